// oneclass/mpi/training.hpp - data-parallel training over MPI: the collectives a
// pipeline::trainer (or a representation) needs to be one rank of a run.
//
//     oneclass::mpi::environment env(argc, argv);
//     oneclass::mpi::communicator comm;
//     oneclass::pipeline::representation rep(cfg, channels);
//     rep.set_data_parallel(oneclass::mpi::data_parallel(comm, /*sync_batch_norm=*/true));
//     rep.fit(images);   // every rank passes the same images; each trains on its rows of a batch
//
// The gradient sum is communicator::sum_in_place (a ring all-reduce in a fixed order), the
// contrastive losses' embeddings go through all_gather: a run is a function of the seed, the
// global batch and P, never of timing.
#pragma once

#include <oneclass/mpi/communicator.hpp>
#include <oneclass/pipeline/trainer.hpp>

namespace oneclass::mpi {

inline pipeline::data_parallel data_parallel(const communicator& comm, bool sync_batch_norm = false) {
    pipeline::data_parallel dp;
    dp.rank = std::size_t(comm.rank());
    dp.size = std::size_t(comm.size());
    dp.sum = [comm](std::vector<float>& v) { comm.sum_in_place(v); };
    dp.sum_double = [comm](std::vector<double>& v) { comm.sum_in_place(v); };
    dp.all_gather = [comm](const std::vector<float>& v) { return comm.all_gather(v); };
    dp.sync_batch_norm = sync_batch_norm;
    return dp;
}

}  // namespace oneclass::mpi
