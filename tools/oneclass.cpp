// oneclass - command-line front end of the library.
//
//   oneclass detect --detector kde --train train.npy --test test.npy [--labels y.npy] [--out s.csv]
//   oneclass eval --dataset fashion-mnist --features raw --detector ocsvm,kde,gde --classes all
//   oneclass train --dataset fashion-mnist --class 0 --method distaug --preset quick --out m.ocm
//   oneclass eval --dataset fashion-mnist --model m.ocm --detector kde,ocsvm [--features f|gf]
//   oneclass run --dataset fashion-mnist --classes all --method distaug --preset quick --seeds 3
//   oneclass run --dataset mvtec --root R --categories all --method cutpaste --preset quick --heatmaps maps
//   oneclass localize --model m.ocm --detector-model det.ocm --images photos/ --out maps/
//   mpirun -np 4 oneclass detect --detector kde --train big.npy --test test.npy --shard-train
//
// Every error (bad flag, missing or malformed file, wrong dimensions, NaN/Inf, bad parameter)
// prints one line "oneclass: error: ..." to stderr and exits with status 2; outputs are written
// atomically at the end, so a failed run leaves no partial file.
#include "cli_common.hpp"
#include "cli_explain.hpp"
#include "cli_mvtec.hpp"
#include "cli_run.hpp"

#include <oneclass/data.hpp>
#include <oneclass/detectors.hpp>
#include <oneclass/eval.hpp>

#include <CLI/CLI.hpp>
#include <tbb/global_control.h>
#if ONECLASS_WITH_MPI
#include <oneclass/mpi/sharded.hpp>
#include <oneclass/mpi/training.hpp>
#endif

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace fs = std::filesystem;
using namespace oneclass;
using oneclass::cli::detector_options;

namespace {

using clock_type = std::chrono::steady_clock;
double seconds_since(clock_type::time_point t0) {
    return std::chrono::duration<double>(clock_type::now() - t0).count();
}

#if ONECLASS_WITH_MPI
// The MPI job this process is a rank of, when an MPI launcher started it (mpirun sets these);
// a plain `oneclass ...` never initialises MPI.
std::optional<mpi::communicator> world;
std::FILE* rank_errors = nullptr;  ///< ranks other than 0: their stderr, kept for their own errors
bool launched_by_mpi() { return std::getenv("OMPI_COMM_WORLD_SIZE") || std::getenv("PMI_SIZE"); }
#endif
bool first_rank() {
#if ONECLASS_WITH_MPI
    return !world || world->rank() == 0;
#else
    return true;
#endif
}

// ---- detect -------------------------------------------------------------------------------------
struct detect_args {
    detector_options det;
    std::string train, test, labels, out, save_model, load_model;
    bool shard_train = false;  ///< MPI: each rank reads and scores against its block of --train rows
};

/// mpirun ... detect --shard-train: KDE or kNN over a training set split across the ranks, each
/// reading only its block of rows of the .npy file (mpi/sharded.hpp).
std::vector<float> sharded_detect_scores(const detect_args& a, const matrix<float>& X_test) {
#if ONECLASS_WITH_MPI
    require(world.has_value(), "detect", "--shard-train needs an MPI job: mpirun -np P oneclass detect ...");
    require(a.det.name == "kde" || a.det.name == "knn", "detect", "--shard-train works with --detector kde or knn, not ",
            a.det.name.empty() ? "none" : a.det.name);
    require(a.save_model.empty() && a.load_model.empty(), "detect", "--shard-train fits no single model to save or load");
    require(cli::extension_of(a.train) == ".npy", "detect", "--shard-train reads blocks of rows of a .npy --train file, not '",
            a.train, "'");
    std::size_t n = 0;
    (void)load_npy_rows<float>(a.train, 0, 0, &n);
    const auto rows = mpi::shard_rows(n, world->rank(), world->size());
    matrix<float> X;
    world->agree([&] {  // a bad value in one rank's rows stops every rank
        X = load_npy_rows<float>(a.train, rows.lo, rows.hi);
        require_finite<float>(X.view(), "cli", ("--train '" + a.train + "'").c_str());
        require(X.rows() == 0 || X.cols() == X_test.cols(), "detect", "--test has ", X_test.cols(), " columns but --train has ",
                X.cols());
    });
    const auto det = cli::make_detector(a.det);
    std::printf("detector=%s train_rows=%zu dim=%zu ranks=%d (each holds about %zu rows)\n", a.det.name.c_str(), n, X_test.cols(),
                world->size(), rows.hi - rows.lo);
    if (const auto* k = std::get_if<kde<float>>(&det)) return mpi::sharded_kde_scores<float>(*world, X.view(), X_test.view(), k->params());
    return mpi::sharded_knn_scores<float>(*world, X.view(), X_test.view(), std::get<knn<float>>(det).params());
#else
    (void)a, (void)X_test;
    fail("detect", "--shard-train needs a oneclass built with -DONECLASS_WITH_MPI=ON, run under mpirun");
#endif
}

int run_detect(const detect_args& a) {
    cli::check_output_file(a.out, "--out");
    cli::check_output_file(a.save_model, "--save-model");
    const auto X_test = cli::load_features(a.test, "--test");
    std::optional<std::vector<double>> labels;
    if (!a.labels.empty()) {
        labels = cli::load_labels(a.labels);
        require(labels->size() == X_test.rows(), "detect", "--labels has ", labels->size(), " values but --test has ",
                X_test.rows(), " rows");
    }
    if (a.shard_train) {
        const auto t0 = clock_type::now();
        const std::vector<float> scores = sharded_detect_scores(a, X_test);
        std::printf("test_rows=%zu score_s=%.3f\n", scores.size(), seconds_since(t0));
        if (labels) std::printf("auc=%.6f\n", roc_auc(scores, *labels));
        if (!a.out.empty() && first_rank()) save_csv_column(a.out, "score", scores);
        if (!a.out.empty()) std::printf("scores=%s\n", a.out.c_str());
        return 0;
    }
    any_detector<float> det;
    double fit_s = 0;
    if (!a.load_model.empty()) {
        det = load_any_model<float>(a.load_model);
        require(a.det.name.empty() || a.det.name == cli::kind_of(det), "detect", "--detector ", a.det.name,
                " does not match the model in '", a.load_model, "' (", cli::kind_of(det), ")");
        std::printf("loaded=%s detector=%s\n", a.load_model.c_str(), cli::kind_of(det).c_str());
    } else {
        require(!a.train.empty(), "detect", "--train is required (or --load-model)");
        require(!a.det.name.empty(), "detect", "--detector is required (", builtin_detectors::choices(), ")");
        const auto X_train = cli::load_features(a.train, "--train");
        require(X_train.cols() == X_test.cols(), "detect", "--test has ", X_test.cols(), " columns but --train has ",
                X_train.cols());
        det = cli::make_detector(a.det);
        const auto t0 = clock_type::now();
        const fit_report rep = std::visit([&](auto& d) { return d.fit(X_train.view()); }, det);
        fit_s = seconds_since(t0);
        std::printf("detector=%s train_rows=%zu dim=%zu fit_s=%.3f\n", cli::kind_of(det).c_str(), X_train.rows(),
                    X_train.cols(), fit_s);
        if (!rep.converged) std::fprintf(stderr, "oneclass: warning: %s\n", rep.message.c_str());
    }
    cli::print_model_summary(det);
    const auto t1 = clock_type::now();
#if ONECLASS_WITH_MPI
    // under mpirun every rank holds the model and scores its block of the test rows
    const std::vector<float> scores = std::visit(
        [&](const auto& d) { return world ? mpi::split_scores(*world, d, X_test.view()) : d.score(X_test.view()); }, det);
#else
    const std::vector<float> scores = std::visit([&](const auto& d) { return d.score(X_test.view()); }, det);
#endif
    std::printf("test_rows=%zu score_s=%.3f\n", scores.size(), seconds_since(t1));
    if (labels) std::printf("auc=%.6f\n", roc_auc(scores, *labels));
    if (!first_rank()) return 0;  // rank 0 writes the files
    if (!a.save_model.empty()) {
        std::visit([&](const auto& d) { save_model(d, a.save_model); }, det);
        std::printf("saved=%s\n", a.save_model.c_str());
    }
    if (!a.out.empty()) {
        save_csv_column(a.out, "score", scores);
        std::printf("scores=%s\n", a.out.c_str());
    }
    return 0;
}

// ---- eval (raw features) ------------------------------------------------------------------------
struct eval_args {
    detector_options det;
    std::string dataset = "fashion-mnist", root, features, detectors = "ocsvm,kde,gde", classes, model;
    std::string attribute = "Eyeglasses";
    std::string out_dir = "results";
    std::string views, stages;
    std::size_t image_size = 0;
    bool uniformity = false;
    double mmd_sigma = 1.0;
};

int run_eval(eval_args a) {
    if (!a.model.empty()) {
        return cli::run_eval_model({a.dataset, a.root, a.model, a.detectors, a.features.empty() ? "f" : a.features,
                                    a.out_dir, a.classes, a.attribute, a.views.empty() ? "none" : a.views,
                                    a.stages.empty() ? "4" : a.stages, a.image_size, a.uniformity, a.mmd_sigma},
                                   a.det);
    }
    require(!a.uniformity, "cli", "--uniformity needs --model (the features of a trained representation)");
    require(a.views.empty(), "cli", "--views needs --model (views of the images a trained representation sees)");
    require(a.stages.empty(), "cli", "--stages needs --model (the stages of a trained representation's encoder)");
    cli::check_output_dir(a.out_dir, "--out-dir");
    if (a.features.empty()) a.features = "raw";
    if (a.classes.empty()) a.classes = "all";
    require(a.features == "raw", "eval", "--features ", a.features, " needs --model (a file from 'oneclass train')");
    const auto names = cli::split_list(a.detectors, "--detector");
    for (const auto& n : names) (void)cli::make_detector(cli::with_name(a.det, n));  // validate flags up front
    const cli::labelled_split data = cli::load_dataset(a.dataset, a.root, a.image_size, a.attribute);
    const auto classes = cli::parse_classes(a.classes, data.train.num_classes());
    fs::create_directories(a.out_dir);

    const matrix<float> train_x = as_features<float>(data.train), test_x = as_features<float>(data.test);
    std::vector<cli::eval_row> rows;
    for (int c : classes) {
        const auto split = one_vs_rest(data.train.labels, data.test.labels, c);
        const matrix<float> Xc = gather_rows<float>(train_x.view(), split.train_rows);
        for (const auto& name : names) {
            auto det = cli::make_detector(cli::with_name(a.det, name));
            const auto t0 = clock_type::now();
            const fit_report rep = std::visit([&](auto& d) { return d.fit(Xc.view()); }, det);
            const double fit_s = seconds_since(t0);
            const auto t1 = clock_type::now();
            const auto scores = std::visit([&](const auto& d) { return d.score(test_x.view()); }, det);
            const double score_s = seconds_since(t1);
            cli::eval_row r{c, data.train.class_names[std::size_t(c)], name, roc_auc(scores, split.test_labels),
                            fit_s, score_s, cli::gamma_of(det), rep.converged};
            std::fprintf(stderr, "class %d (%s) %s: auc=%.4f fit %.2fs score %.2fs\n", c, r.class_name.c_str(),
                         name.c_str(), r.auc, fit_s, score_s);
            rows.push_back(std::move(r));
        }
    }
    const std::string stem = "eval-" + a.dataset + "-" + a.features;
    cli::print_table(rows, names, classes);
    cli::write_eval_results(fs::path(a.out_dir) / stem, a.dataset, a.features, a.det, rows, names);
    std::printf("results=%s.{json,csv}\n", (fs::path(a.out_dir) / stem).string().c_str());
    return 0;
}

/// --detector and one flag per setting of builtin_detectors, with the detectors it applies to.
void add_detector_flags(CLI::App* cmd, detector_options& o, bool single, bool with_seed = true) {
    if (single) cmd->add_option("--detector", o.name, builtin_detectors::choices("|"));
    for (const auto& s : builtin_detectors::settings()) {
        if (s.name == "seed" && !with_seed) continue;  // run's --seed is the training seed
        std::string apply_to;
        for (const auto& v : s.variants) apply_to += (apply_to.empty() ? "" : ", ") + v;
        const std::string help = apply_to + ": " + s.help;
        if (s.whole)
            cmd->add_option("--" + s.name, o.whole[s.name], help)
                ->check(cli::whole_number(std::uint64_t(s.lo), s.hi >= 1.8e19 ? UINT64_MAX : std::uint64_t(s.hi)));
        else
            cmd->add_option("--" + s.name, o.real[s.name], help);
    }
    cmd->add_option("--normalize", o.normalize, "l2|none (default l2, the paper's)")
        ->check(CLI::IsMember({"l2", "none"}));
}

}  // namespace

/// An error on this process: printed (with the rank, under mpirun), status 2. Under mpirun with
/// several ranks the error may be this rank's alone while the others wait in a collective (where
/// MPI_Finalize would wait for them too), so the whole job is ended here.
int job_error(const char* what) {
#if ONECLASS_WITH_MPI
    if (world && world->size() > 1) {
        std::FILE* out = rank_errors ? rank_errors : stderr;
        std::fprintf(out, "oneclass: error: rank %d: %s\n", world->rank(), what);
        std::fflush(out);
        MPI_Abort(world->native(), 2);
    }
#endif
    std::fprintf(stderr, "oneclass: error: %s\n", what);
    return 2;
}

int main(int argc, char** argv) {
#if ONECLASS_WITH_MPI
    std::optional<mpi::environment> mpi_env;
    if (launched_by_mpi()) {
        mpi_env.emplace(argc, argv);
        world.emplace();
        if (world->rank() != 0) {  // one rank reports; the others keep a stream for errors of their own
            rank_errors = fdopen(dup(2), "w");
            if (!std::freopen("/dev/null", "w", stdout)) std::fclose(stdout);
            if (!std::freopen("/dev/null", "w", stderr)) std::fclose(stderr);
        }
    }
#endif
    CLI::App app{"oneclass: deep one-class classification (Sohn et al., ICLR 2021)"};
    app.require_subcommand(1);
    app.set_version_flag("--version", [] { return cli::version_text(); }, "print the version, the instruction set it was built for, the BLAS and its kernels");
    int threads = 0;
    app.add_option("--threads", threads, "worker threads (default: all cores)")->check(cli::whole_number(1, 4096));

    detect_args da;
    auto* detect = app.add_subcommand("detect", "fit a detector on feature rows and score test rows");
    add_detector_flags(detect, da.det, true);
    detect->add_option("--train", da.train, "training rows: .npy or .csv (normal data only)");
    detect->add_option("--test", da.test, "rows to score: .npy or .csv")->required();
    detect->add_option("--labels", da.labels, "test labels, 0 normal / 1 anomaly (.npy or .csv): prints auc");
    detect->add_flag("--shard-train", da.shard_train, "under mpirun: each rank reads its block of the --train rows (.npy; kde or knn)");
    detect->add_option("--out", da.out, "write one anomaly score per test row (CSV, header 'score')");
    auto* save = detect->add_option("--save-model", da.save_model, "write the fitted detector");
    auto* load = detect->add_option("--load-model", da.load_model, "score with a saved detector instead of fitting");
    save->excludes(load);

    const std::vector<std::string> datasets{"fashion-mnist", "cifar10", "cifar20", "folder", "cat-vs-dog", "celeba", "mvtec"};
    const char* dataset_help = "fashion-mnist|cifar10|cifar20|folder|cat-vs-dog|celeba|mvtec";
    const char* views_help = "a list of the view sets the detectors see, each a column: none (default), hflip, rot (the four "
                             "rotations' features side by side), rot+hflip; e.g. none,rot";
    const char* stages_help = "a list of the encoder stages the detectors see, each a column: 4 (f, default), or stages joined by '+', "
                              "each pooled and normalised on its own, side by side (e.g. 4,3+4,2+3+4)";
    // --dataset mvtec: defect localisation on patches (tools/cli_mvtec.hpp); its own flags, shared by train / eval / run
    cli::mvtec_args ma;
    const auto add_mvtec_flags = [&](CLI::App* cmd, bool training, bool scoring) {
        if (training) {
            cmd->add_option("--patch", ma.patch, "mvtec: P, the side of the patches (default 32)")->check(cli::whole_number(8, 4096));
            cmd->add_option("--patches", ma.patches, "mvtec: training patches per epoch (default: the preset's)")
                ->check(cli::whole_number(1, 1000000000));
        }
        if (scoring) {
            if (!training) cmd->add_option("--patch", ma.patch, "mvtec: P (default: the model's; 32 for raw)")->check(cli::whole_number(8, 4096));
            cmd->add_option("--stride", ma.stride, "mvtec: S, the stride of dense scoring (default 4)")->check(cli::whole_number(1, 4096));
            cmd->add_option("--fit-patches", ma.fit_patches, "mvtec: training patches the detectors are fitted on (default: the preset's)")
                ->check(cli::whole_number(2, 100000000));
            cmd->add_option("--heatmaps", ma.heatmaps, "mvtec: write each test image's anomaly map picture, a grid and maps.npy here");
            cmd->add_option("--save-detectors", ma.save_detectors, "mvtec: write each fitted patch detector here (for 'localize')");
            cmd->add_option("--save-models", ma.save_models, "mvtec: write each patch model (representation + detector, one .ocp file) here");
            cmd->add_option("--textures", ma.textures, "mvtec: the categories averaged as textures (default MVTec's: carpet,grid,leather,tile,wood)");
        }
        cmd->add_option("--grayscale", ma.grayscale, "mvtec: replicate (grey categories as RGB; default) or keep (their own channels)")
            ->check(CLI::IsMember({"replicate", "keep"}));
    };
    eval_args ea;
    auto* eval = app.add_subcommand("eval", "one-vs-rest AUC over the classes of a dataset (raw pixels or a trained model)");
    add_detector_flags(eval, ea.det, false);
    eval->add_option("--dataset", ea.dataset, dataset_help)->check(CLI::IsMember(datasets));
    eval->add_option("--root", ea.root, "dataset folder (default: /usr/share/datasets/fashion-mnist)");
    eval->add_option("--image-size", ea.image_size, "folder / cat-vs-dog / celeba: resize to this side (32 or 64); mvtec: 256")
        ->check(cli::whole_number(16, 4096));
    eval->add_option("--attribute", ea.attribute, "celeba: the attribute that marks an anomaly (default Eyeglasses)");
    eval->add_option("--model", ea.model, "a model from 'oneclass train': evaluate its features on its class");
    eval->add_option("--features", ea.features, "raw (pixels in [0, 1]; default without --model), f or gf (with --model)");
    eval->add_option("--detector", ea.detectors, "comma-separated list, e.g. ocsvm,kde,gde");
    eval->add_option("--classes", ea.classes, "all or a list such as 0,3,7 (with --model: the model's class)");
    eval->add_option("--out-dir", ea.out_dir, "where the JSON and CSV results go (default results)");
    eval->add_flag("--uniformity", ea.uniformity, "with --model: uniformity and MMD^2 to the sphere of the class's training features, f and g(f)");
    eval->add_option("--mmd-sigma", ea.mmd_sigma, "--uniformity: the Gaussian kernel's width (default 1)");
    eval->add_option("--views", ea.views, views_help);
    eval->add_option("--stages", ea.stages, stages_help);
    eval->add_option("--category", ma.category, "mvtec: the category");
    add_mvtec_flags(eval, false, true);

    cli::localize_args la;
    auto* localize = app.add_subcommand("localize", "anomaly maps of your own images with a patch model and a patch detector");
    localize->add_option("--model", la.model, "a patch model (.ocp, from --save-models), or a representation from 'oneclass train --dataset mvtec'")
        ->required();
    localize->add_option("--detector-model", la.detector_model, "with a representation: a patch detector from 'oneclass eval --dataset mvtec --save-detectors'");
    localize->add_option("--images", la.images, "a folder of PNG / JPEG images")->required();
    localize->add_option("--out", la.out, "folder for each image's picture, scores.csv and maps.npy")->required();
    localize->add_option("--stride", la.stride, "S (default 4)")->check(cli::whole_number(1, 4096));
    localize->add_option("--features", la.features, "f or gf: what the detector was fitted on (default f)");
    localize->add_option("--range", la.range, "LO,HI: the scores the colour map spans (default: these images' smallest and largest)");

    cli::explain_args xa;
    detector_options explain_det;
    auto* explain = app.add_subcommand("explain", "heat maps of why a detector on a trained model finds images anomalous");
    add_detector_flags(explain, explain_det, false);
    explain->add_option("--model", xa.model, "a model from 'oneclass train'")->required();
    explain->add_option("--dataset", xa.dataset, "the model's dataset: its class's training images fit the detectors; test images are explained")
        ->check(CLI::IsMember(datasets));
    explain->add_option("--root", xa.root, "dataset folder");
    explain->add_option("--attribute", xa.attribute, "celeba: the attribute that marks an anomaly (default Eyeglasses)");
    explain->add_option("--images", xa.images, "a folder of images to explain (instead of the dataset's test images)");
    explain->add_option("--train", xa.train, "with --images: a folder of normal images to fit the detectors on");
    explain->add_option("--detector", xa.detectors, "comma-separated: kde, gde, gmm, ocsvm, ocsvm-linear, proxy (the proxy's own score)");
    explain->add_option("--method", xa.methods, "comma-separated: gradient, ig, gradcam (default all three)");
    explain->add_option("--steps", xa.steps, "integrated gradients: path points (default 32)")->check(cli::whole_number(1, 4096));
    explain->add_option("--baseline", xa.baseline, "integrated gradients: black, blur or mean (the training images' mean colour)")
        ->check(CLI::IsMember({"black", "blur", "mean"}));
    explain->add_option("--rule", xa.rule, "integrated gradients: riemann (midpoints) or gauss-legendre")
        ->check(CLI::IsMember({"riemann", "gauss-legendre"}));
    explain->add_option("--stage", xa.stage, "GradCAM: the encoder stage 1..4 (default 4)")->check(cli::whole_number(1, 4));
    explain->add_option("--features", xa.features, "f (encoder, default) or gf (projection head)");
    explain->add_option("--which", xa.which, "dataset test images: anomalous (default), normal or all")
        ->check(CLI::IsMember({"anomalous", "normal", "all"}));
    explain->add_option("--count", xa.count, "how many images (default 16)")->check(cli::whole_number(1, 100000));
    explain->add_option("--pointing-game", xa.pointing_game, "SIDE: paste SIDE x SIDE noise squares into normal test images, report hit rates")
        ->check(cli::whole_number(1, 4096));
    explain->add_option("--image-seed", xa.seed, "which images are picked and where squares go (default 0)")
        ->check(cli::whole_number(0, UINT64_MAX));
    explain->add_option("--out", xa.out, "folder for the pictures, the .npy maps and explain.csv")->required();

    cli::plot_args pa;
    auto* plot = app.add_subcommand("plot", "a PNG line plot from a CSV file (results, sweeps): one line per --group value");
    plot->add_option("--csv", pa.csv, "the CSV file (a header row, then data)")->required();
    plot->add_option("--x", pa.x, "the column on the x axis")->required();
    plot->add_option("--y", pa.y, "the column on the y axis")->required();
    plot->add_option("--group", pa.group, "the column whose values make separate lines");
    plot->add_flag("--log-x", pa.log_x, "a log10 x axis");
    plot->add_option("--title", pa.title, "the plot's title");
    plot->add_option("--out", pa.out, "the .png file")->required();

    cli::features_args fa;
    auto* features = app.add_subcommand("features", "write a trained model's L2-normalised features as .npy");
    features->add_option("--model", fa.model, "a model from 'oneclass train'")->required();
    features->add_option("--dataset", fa.dataset, dataset_help)->check(CLI::IsMember(datasets));
    features->add_option("--root", fa.root, "dataset folder");
    features->add_option("--attribute", fa.attribute, "celeba: the attribute that marks an anomaly (default Eyeglasses)");
    features->add_option("--class", fa.classes, "the model's class (checked against the model)");
    features->add_option("--split", fa.split, "train (the class's training images) or test (the whole test split; default)")
        ->check(CLI::IsMember({"train", "test"}));
    features->add_option("--features", fa.features, "f (encoder, default) or gf (projection head)");
    features->add_option("--out", fa.out, "the .npy file of N x d features")->required();
    features->add_option("--labels", fa.labels, "a .npy file of the rows' labels (1 = anomaly: another class)");

    const std::string cmd1 = argc > 1 ? argv[1] : "";
    if (argc > 1 && argv[1][0] != '-' && cmd1 != "detect" && cmd1 != "eval" && cmd1 != "run" && cmd1 != "train" &&
        cmd1 != "localize" && cmd1 != "explain" && cmd1 != "features" && cmd1 != "plot") {
        std::fprintf(stderr, "oneclass: error: unknown command '%s' (detect, eval, train, run, localize, explain, features, plot; see --help)\n", argv[1]);
        return 2;
    }
    auto add_train_flags = [&](CLI::App* cmd, cli::train_options& t) {
        auto* method = cmd->add_option("--method", t.method, pipeline::builtin_proxies::choices("|") +
                                                                 (cmd->get_name() == "run" ? " (a list with --ensemble)" : ""));
        if (cmd->get_name() != "run")  // run takes a list and checks each name
            method->check(CLI::IsMember(std::vector<std::string>(pipeline::builtin_proxies::names.begin(),
                                                                 pipeline::builtin_proxies::names.end())));
        cmd->add_option("--preset", t.preset, "quick|standard|paper")->check(CLI::IsMember({"quick", "standard", "paper"}));
        cmd->add_option("--epochs", t.epochs, "override the preset's epochs")->check(cli::whole_number(1, 1000000));
        cmd->add_option("--batch", t.batch, "override the preset's batch size")->check(cli::whole_number(2, 65536));
        cmd->add_option("--lr", t.lr, "override the preset's learning rate");
        cmd->add_option("--arch", t.arch, "resnet10|resnet18|resnet34 (default: the preset's)");
        cmd->add_option("--width", t.width, "ResNet width multiplier (default: the preset's)");
        cmd->add_option("--seed", t.seed, "training seed")->check(cli::whole_number(0, UINT64_MAX));
        cmd->add_option("--train-limit", t.train_limit, "train the representation on at most this many of the class's images (detectors fit on all of them)")
            ->check(cli::whole_number(1, 1000000000));
        cmd->add_option("--channels", t.channels, "1 or 3 (grayscale replicated; default: the dataset's)")
            ->check(cli::whole_number(1, 3));
        cmd->add_option("--progress", t.progress, "auto (bar on a terminal, log lines otherwise)|bar|log|none");
        cmd->add_option("--metrics", t.metrics, "write per-step and per-epoch metrics as JSON lines");
        cmd->add_option("--distaug", t.distaug, "DistAug's distributions: rot (default), hflip, rot+hflip, or shift codes 0..7 (e.g. 0,1,2,3)");
        cmd->add_flag("--augment", t.augment, "rotation: augment each image (a crop of half the area or more, flip, jitter, blur) before its four rotations");
    };

    cli::train_args ta;
    auto* train = app.add_subcommand("train", "train a representation on one class's training images, write a model");
    train->add_option("--dataset", ta.dataset, dataset_help)->check(CLI::IsMember(datasets));
    train->add_option("--root", ta.root, "dataset folder");
    train->add_option("--image-size", ta.image_size, "folder / cat-vs-dog / celeba: resize to this side (32 or 64); mvtec: 256")
        ->check(cli::whole_number(16, 4096));
    train->add_option("--attribute", ta.attribute, "celeba: the attribute that marks an anomaly (default Eyeglasses)");
    train->add_option("--class", ta.cls, "the inlier (normal) class")->check(cli::whole_number(0, 100000));
    train->add_option("--category", ma.category, "mvtec: the category");
    add_mvtec_flags(train, true, false);
    train->add_option("--out", ta.out, "model file to write")->required();
    train->add_option("--checkpoint", ta.checkpoint, "checkpoint file (default MODEL.ckpt; removed once MODEL is written)");
    train->add_option("--checkpoint-every", ta.checkpoint_every, "epochs between checkpoints (default 1)")
        ->check(cli::whole_number(1, 1000000));
    train->add_flag("--resume", ta.resume, "continue from the checkpoint (bit for bit the uninterrupted run)");
    bool sync_batch_norm = false;
    train->add_flag("--sync-batch-norm", sync_batch_norm,
                    "under mpirun: batch norm over the whole global batch (P ranks then train what one process does)");
    add_train_flags(train, ta.train);

    cli::run_args ra;
    detector_options run_det;
    auto* run = app.add_subcommand("run", "train a representation per class, then fit detectors on its features");
    // a flag given twice takes the last value, so that scripts can pass defaults and users override them
    run->option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
    add_detector_flags(run, run_det, false, false);
    run->add_option("--dataset", ra.dataset, dataset_help)->check(CLI::IsMember(datasets));
    run->add_option("--root", ra.root, "dataset folder");
    run->add_option("--image-size", ra.image_size, "folder / cat-vs-dog / celeba: resize to this side (32 or 64); mvtec: 256")
        ->check(cli::whole_number(16, 4096));
    run->add_option("--attribute", ra.attribute, "celeba: the attribute that marks an anomaly (default Eyeglasses)");
    run->add_option("--classes", ra.classes, "all or a list such as 0,3,7");
    run->add_option("--seeds", ra.seeds, "number of seeds (mean +- std)")->check(cli::whole_number(1, 1000));
    run->add_option("--detector", ra.detectors, "comma-separated, e.g. kde,ocsvm,gde,knn");
    run->add_option("--features", ra.features, "f (encoder) or gf (head)");
    run->add_option("--out-dir", ra.out_dir, "where the JSON and CSV results go");
    run->add_option("--baseline", ra.baseline, "a results CSV of 'oneclass eval' to print alongside (e.g. raw pixels)");
    run->add_option("--contamination", ra.contamination, "mix this share (0..0.5) of other classes' images into each training set (seeded)");
    run->add_option("--detector-train", ra.detector_train, "fit the detectors on this many clean images of the class only")
        ->check(cli::whole_number(2, 1000000000));
    run->add_flag("--ensemble", ra.ensemble, "also score the ensemble of the seeds (and methods): standardised scores, summed");
    run->add_option("--validate", ra.validate, "hold out this share (0..0.5) of each class's training images as validation normals, "
                                                "as many other-class training images as validation anomalies; report AUC on them ([val] columns)");
    run->add_option("--views", ra.views, views_help);
    run->add_option("--stages", ra.stages, stages_help);
    run->add_option("--plots", ra.plots, "a folder for PNG plots: AUC per class, each class's ROC curves (first seed)");
    add_train_flags(run, ra.train);
    run->add_flag("--sync-batch-norm", sync_batch_norm, "under mpirun: batch norm over the whole global batch");
    run->add_option("--categories", ma.categories, "mvtec: all or a list such as bottle,carpet");
    add_mvtec_flags(run, true, true);

    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForVersion& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        std::fprintf(stderr, "oneclass: error: %s\n", e.what());
        return 2;
    }
    if (const auto w = blas_kernel_warning()) std::fprintf(stderr, "oneclass: warning: %s\n", w->c_str());
    try {
        (void)ops::kernels_ready();  // a malformed or unusable ONECLASS_ISA is named before any work starts
        std::unique_ptr<tbb::global_control> limit;
        if (threads > 0)
            limit = std::make_unique<tbb::global_control>(tbb::global_control::max_allowed_parallelism, threads);
        const auto mvtec_from = [&](const std::string& root, std::size_t image_size, const std::string& detectors, bool detectors_given,
                                    const std::string& out_dir) {
            ma.root = root;
            if (image_size) ma.image_size = image_size;
            if (detectors_given) ma.detectors = detectors;
            ma.out_dir = out_dir;
        };
        // flags of the class-level datasets that mean nothing on MVTec: refused, not ignored
        for (CLI::App* cmd : {train, eval, run})
            if (*cmd && ((cmd == train && ta.dataset == "mvtec") || (cmd == eval && ea.dataset == "mvtec") ||
                         (cmd == run && ra.dataset == "mvtec")))
                for (const char* f : {"--class", "--classes", "--seeds", "--baseline", "--channels", "--train-limit", "--attribute", "--uniformity", "--mmd-sigma",
                                      "--contamination", "--detector-train", "--ensemble", "--plots", "--validate", "--views", "--stages"})
                    if (cmd->get_option_no_throw(f) && cmd->count(f))
                        fail("cli", f, " does not apply to --dataset mvtec", std::string(f) == "--channels" ? " (see --grayscale)" : "",
                             std::string(f) == "--class" ? " (use --category)" : "");
#if ONECLASS_WITH_MPI
        if (world) {
            // train: the ranks train one model together; run, eval --model, features: each rank
            // extracts features of its block of the images (MVTec: of the patches) and scores its
            // block of the rows; rank 0 writes. The other commands do not split yet.
            const bool splits = *train || *detect || *features || *run || (*eval && !ea.model.empty());
            require(splits || world->size() == 1, "cli", "under mpirun only train, run, eval --model, features and detect run ",
                    "(not raw-pixel eval, explain, localize or plot): run those in one process");
            cli::parallel().setup = [&](pipeline::representation& rep) {
                rep.set_data_parallel(mpi::data_parallel(*world, sync_batch_norm));
            };
            cli::parallel().split = [&](std::size_t n, const std::function<std::vector<double>(std::size_t, std::size_t)>& f) {
                return mpi::split_rows<double>(*world, n, f);
            };
            cli::parallel().writer = world->rank() == 0;
        } else
#endif
            require(!sync_batch_norm, "cli", "--sync-batch-norm needs an MPI job: mpirun -np P oneclass train ...");
        if (*features) return cli::run_features(fa);
        if (*plot) return cli::run_plot(pa);
        if (*explain) {
            std::string listed;  // the detectors that take flags: all but the proxy's own score
            for (const auto& n : cli::split_list(xa.detectors, "--detector"))
                if (n != "proxy") listed += (listed.empty() ? "" : ",") + n;
            if (!listed.empty()) cli::reject_unused_flags_list(listed, explain);
            return cli::run_explain(xa, explain_det);
        }
        if (*localize) {
            la.features_given = localize->count("--features") > 0, la.stride_given = localize->count("--stride") > 0;
            return cli::run_localize(la);
        }
        if (*train && ta.dataset == "mvtec") {
            mvtec_from(ta.root, ta.image_size, "", false, "");
            ma.out = ta.out, ma.train = ta.train;
            return cli::run_mvtec_train(ma);
        }
        if (*eval && ea.dataset == "mvtec") {
            mvtec_from(ea.root, ea.image_size, ea.detectors, eval->count("--detector") > 0, ea.out_dir);
            cli::reject_unused_flags_list(ma.detectors, eval);
            ma.model = ea.model, ma.features = ea.features.empty() ? (ea.model.empty() ? "raw" : "f") : ea.features;
            return cli::run_mvtec_eval(ma, ea.det);
        }
        if (*run && ra.dataset == "mvtec") {
            mvtec_from(ra.root, ra.image_size, ra.detectors, run->count("--detector") > 0, ra.out_dir);
            cli::reject_unused_flags_list(ma.detectors, run);
            run_det.whole["seed"] = ra.train.seed;
            ma.train = ra.train, ma.features = ra.features;
            return cli::run_mvtec_pipeline(ma, run_det);
        }
        for (CLI::App* cmd : {train, eval, run})
            for (const char* f : {"--category", "--categories", "--patch", "--patches", "--stride", "--fit-patches", "--heatmaps",
                                  "--save-detectors", "--save-models", "--grayscale", "--textures"})
                if (*cmd && cmd->get_option_no_throw(f) && cmd->count(f))
                    fail("cli", f, " applies to --dataset mvtec only");
        if (*detect) {
            cli::reject_unused_flags(da.det, detect);
            if (!da.load_model.empty()) cli::reject_fit_flags_with_load(detect);
            return run_detect(da);
        }
        if (*run) {
            cli::reject_unused_flags_list(ra.detectors, run);
            run_det.whole["seed"] = ra.train.seed;
            return cli::run_pipeline(ra, run_det);
        }
        if (*train) return cli::run_train(ta);
        cli::reject_unused_flags_list(ea.detectors, eval);
        return run_eval(ea);
    } catch (const pipeline::training_interrupted& e) {
        // train keeps a checkpoint to resume from; run writes its results only at the end. Under
        // mpirun every rank stops at the same step (the ranks agree on it): rank 0 reports.
        if (cli::parallel().writer)
            std::fprintf(stderr, "oneclass: interrupted: %s%s\n", e.what(), *train ? "; continue with --resume" : "; no results were written");
        return 130;
    } catch (const pipeline::training_diverged& e) {
        if (cli::parallel().writer) std::fprintf(stderr, "oneclass: error: %s\n", e.what());  // every rank's, agreed
        return 2;
    } catch (const std::exception& e) {
        return job_error(e.what());
    }
}
