// tests/test_cli.cpp - the oneclass command-line tool end to end: outputs, model files, and every
// bad input giving a one-line error, exit status 2 and no partial output file.
#include "mvtec_fixture.hpp"
#include "test_util.hpp"

#include <oneclass/core/isa.hpp>
#include <oneclass/core/platform.hpp>
#include <oneclass/data.hpp>
#include <oneclass/pipeline/representation.hpp>

#include <nlohmann/json.hpp>
#include <zlib.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <sys/wait.h>

using namespace oneclass;
namespace fs = std::filesystem;

namespace {
struct result {
    int status;
    std::string out;  ///< stdout and stderr
    std::string err;  ///< stderr alone
};

result run(const std::string& args, const std::string& env = "", const std::string& launcher = "") {
    const std::string errfile = (fs::temp_directory_path() / ("oneclass_cli_err_" + std::to_string(::getpid()))).string();
    const std::string cmd = (env.empty() ? "" : env + " ") + (launcher.empty() ? "" : launcher + " ") + std::string(ONECLASS_CLI) + " " +
                            args + " 2>" + errfile;
    FILE* p = popen(cmd.c_str(), "r");
    REQUIRE(p != nullptr);
    std::string out;
    std::array<char, 4096> buf;
    while (std::size_t n = std::fread(buf.data(), 1, buf.size(), p)) out.append(buf.data(), n);
    const int st = pclose(p);
    std::ifstream ef(errfile);
    std::string err((std::istreambuf_iterator<char>(ef)), std::istreambuf_iterator<char>());
    fs::remove(errfile);
    return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, out + err, err};
}

const fs::path dir = fs::temp_directory_path() / ("oneclass_cli_" + std::to_string(::getpid()));
std::string at(const std::string& f) { return (dir / f).string(); }
void write_text(const std::string& f, const std::string& s) { std::ofstream(dir / f, std::ios::binary) << s; }

struct setup {
    setup() {
        fs::remove_all(dir);
        fs::create_directories(dir);
        // normal data around (3, ..., 3); anomalies around (-3, ..., -3): apart after L2 normalisation too
        const auto tr = test::random_matrix<float>(200, 6, 1, 1.0, 3.0), te_in = test::random_matrix<float>(50, 6, 2, 1.0, 3.0);
        const auto te_out = test::random_matrix<float>(50, 6, 3, 1.0, -3.0);
        matrix<float> te(100, 6);
        std::copy_n(te_in.data(), te_in.size(), te.data());
        std::copy_n(te_out.data(), te_out.size(), te.data() + te_in.size());
        std::vector<double> y(100, 0.0);
        std::fill(y.begin() + 50, y.end(), 1.0);
        save_npy<float>(dir / "train.npy", tr.view());
        save_npy<float>(dir / "test.npy", te.view());
        save_npy(dir / "labels.npy", y);
        save_csv_matrix<float>(dir / "train.csv", tr.view(), "a,b,c,d,e,f");
        save_npy<float>(dir / "wide.npy", test::random_matrix<float>(10, 7, 4).view());
        save_npy<float>(dir / "one.npy", test::random_matrix<float>(1, 6, 5).view());
        save_npy(dir / "short_labels.npy", std::vector<double>(99, 0.0));
    }
    ~setup() { fs::remove_all(dir); }
};

/// Lines of stderr other than warnings (OpenBLAS's kernel choice is reported on some CPUs).
std::size_t error_lines(const std::string& err) {
    std::size_t n = 0;
    std::istringstream in(err);
    for (std::string line; std::getline(in, line);) n += line.rfind("oneclass: warning:", 0) != 0;
    return n;
}

void expect_error(const std::string& args, const std::string& needle, const char* out_file = "never.csv") {
    INFO("args: " << args);
    const auto r = run(args + " --out " + at(out_file));
    INFO("output: " << r.out);
    REQUIRE(r.status == 2);
    REQUIRE_THAT(r.out, Catch::Contains("oneclass: error:") && Catch::Contains(needle));
    REQUIRE(error_lines(r.err) == 1);  // one line on stderr
    REQUIRE_FALSE(fs::exists(dir / out_file));
}

void gz(const fs::path& p, const std::string& b) {
    gzFile f = gzopen(p.c_str(), "wb");
    gzwrite(f, b.data(), unsigned(b.size()));
    gzclose(f);
}
std::string idx(std::vector<std::uint32_t> dims, const std::vector<std::uint8_t>& data) {
    std::string b{char(0), char(0), char(8), char(dims.size())};
    for (auto d : dims)
        for (int sh = 24; sh >= 0; sh -= 8) b.push_back(char((d >> sh) & 0xff));
    b.append(data.begin(), data.end());
    return b;
}
// A Fashion-MNIST folder in the real (gzipped IDX) format: 10 classes, class c is a bright block
// at a class-specific height + noise. `test_images` receives the test pixels.
void write_fashion_mnist(const fs::path& folder, std::uint32_t n_train, std::uint32_t n_test,
                         std::vector<std::uint8_t>* test_images = nullptr) {
    fs::create_directories(folder);
    rng r(7);
    auto make = [&](std::uint32_t n, std::vector<std::uint8_t>& img, std::vector<std::uint8_t>& lab) {
        for (std::uint32_t i = 0; i < n; ++i) {
            const int c = int(i % 10);
            lab.push_back(std::uint8_t(c));
            for (int p = 0; p < 784; ++p) {
                const bool on = (p / 28) / 3 == c && (p % 28) < 20;
                img.push_back(std::uint8_t(on ? 200 + r.below(50) : r.below(30)));
            }
        }
    };
    std::vector<std::uint8_t> ti, tl, vi, vl;
    make(n_train, ti, tl);
    make(n_test, vi, vl);
    gz(folder / "train-images-idx3-ubyte.gz", idx({n_train, 28, 28}, ti));
    gz(folder / "train-labels-idx1-ubyte.gz", idx({n_train}, tl));
    gz(folder / "t10k-images-idx3-ubyte.gz", idx({n_test, 28, 28}, vi));
    gz(folder / "t10k-labels-idx1-ubyte.gz", idx({n_test}, vl));
    if (test_images) *test_images = vi;
}
}  // namespace

TEST_CASE("oneclass detect: scores, auc, gamma, model save / load") {
    setup s;
    for (const char* det : {"kde", "ocsvm", "ocsvm-linear", "gde", "gmm", "knn"}) {
        INFO(det);
        const auto r = run(std::string("detect --detector ") + det + " --train " + at("train.npy") + " --test " +
                           at("test.npy") + " --labels " + at("labels.npy") + " --out " + at("s.csv") +
                           " --save-model " + at("m.ocm"));
        INFO(r.out);
        REQUIRE(r.status == 0);
        REQUIRE_THAT(r.out, Catch::Contains("auc="));
        const double auc = std::stod(r.out.substr(r.out.find("auc=") + 4));
        if (std::string(det) != "ocsvm-linear") REQUIRE(auc > 0.9);  // shifted blob is plainly anomalous
        const auto scores = load_csv_vector<double>(dir / "s.csv");
        REQUIRE(scores.size() == 100);
        REQUIRE(read_file_bytes(dir / "s.csv", "t").rfind("score\n", 0) == 0);
        const auto r2 = run(std::string("detect --load-model ") + at("m.ocm") + " --test " + at("test.npy") +
                            " --out " + at("s2.csv"));
        REQUIRE(r2.status == 0);
        REQUIRE(read_file_bytes(dir / "s2.csv", "t") == read_file_bytes(dir / "s.csv", "t"));
    }
    const auto g = run("detect --detector kde --gamma 0.25 --train " + at("train.csv") + " --test " + at("test.npy"));
    REQUIRE(g.status == 0);
    REQUIRE_THAT(g.out, Catch::Contains("gamma=0.25"));
    // --version: the library, the instruction sets, the BLAS and the kernels it picked
    const auto v = run("--version", "OPENBLAS_CORETYPE=Haswell");
    INFO(v.out);
    REQUIRE(v.status == 0);
    REQUIRE_THAT(v.out, Catch::Contains(std::string("oneclass ") + version_string) && Catch::Contains("compiled for: ") &&
                            Catch::Contains("this CPU: ") && Catch::Contains("BLAS: "));
    if (blas().openblas) REQUIRE_THAT(v.out, Catch::Contains("BLAS kernels: Haswell"));
    REQUIRE_THAT(v.out, Catch::Contains("kernels: "));
    // ONECLASS_ISA: the kernels' level forced, or a bad one named before any work (exit 2)
    for (isa l : {isa::x86_64, isa::x86_64_v2}) {  // v2 is not in the kernel library by default
        const auto forced = run("--version", std::string("ONECLASS_ISA=") + isa_name(l));
        INFO(forced.out);
        REQUIRE(forced.status == 0);
        if (int(l) > int(cpu_isa_level())) REQUIRE_THAT(forced.out, Catch::Contains("this CPU supports up to"));
        else if (kernel_level_built(l))
            REQUIRE_THAT(forced.out, Catch::Contains(std::string("kernels:      ") + isa_name(l) + " (") || Catch::Contains("compiled inline"));
        else REQUIRE_THAT(forced.out, Catch::Contains(std::string(isa_name(l)) + " is not built into this program's kernel library"));
    }
    const auto bad_isa = run("detect --detector kde --train " + at("train.npy") + " --test " + at("test.npy"), "ONECLASS_ISA=avx9");
    REQUIRE(bad_isa.status == 2);
    REQUIRE_THAT(bad_isa.err, Catch::Contains("ONECLASS_ISA") && Catch::Contains("unknown level 'avx9'"));
    const auto d = run("detect --detector ocsvm --train " + at("train.npy") + " --test " + at("test.npy"));
    REQUIRE_THAT(d.out, Catch::Contains("gamma=") && Catch::Contains("rho=") && Catch::Contains("n_support="));
    const auto ns = run("detect --detector kde --shard-train --train " + at("train.npy") + " --test " + at("test.npy"));
    REQUIRE(ns.status == 2);
    REQUIRE_THAT(ns.out, Catch::Contains("--shard-train needs"));
#ifdef ONECLASS_MPIEXEC
    // under mpirun: the training rows split over 3 ranks (KDE, kNN), or the test rows (OC-SVM),
    // give one process's scores; one rank writes the file, one rank prints
    const std::string mpi_env = "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl_vader_single_copy_mechanism=none";
    const std::string launcher = std::string(ONECLASS_MPIEXEC) + " -np 3 --oversubscribe";
    for (const std::string det : {"kde --shard-train", "knn --k 3 --shard-train", "ocsvm", "kde"}) {
        INFO(det);
        const std::string common = " --train " + at("train.npy") + " --test " + at("test.npy") + " --labels " + at("labels.npy");
        const auto one = run("detect --detector " + det.substr(0, det.find(" --shard-train")) + common + " --out " + at("s1.csv"));
        const auto many = run("detect --detector " + det + common + " --out " + at("s3.csv"), mpi_env, launcher);
        INFO(many.out);
        REQUIRE(one.status == 0);
        REQUIRE(many.status == 0);
        REQUIRE(many.out.find("test_rows=100") == many.out.rfind("test_rows=100"));  // printed by one rank
        if (det.find("shard") != std::string::npos) REQUIRE_THAT(many.out, Catch::Contains("train_rows=200 dim=6 ranks=3"));
        // float tolerance: the shards' sums and distances are regrouped (docs/scaling.md)
        REQUIRE_ALLCLOSE(load_csv_vector<double>(dir / "s3.csv"), load_csv_vector<double>(dir / "s1.csv"), 1e-4, 1e-4);
    }
    const auto bad = run("detect --detector gde --shard-train --train " + at("train.npy") + " --test " + at("test.npy"), mpi_env, launcher);
    REQUIRE(bad.status != 0);
    REQUIRE_THAT(bad.out, Catch::Contains("--shard-train works with --detector kde or knn, not gde"));
#endif
}

TEST_CASE("oneclass detect: every bad input is one line, exit 2, no output file") {
    setup s;
    const std::string ok = " --train " + at("train.npy") + " --test " + at("test.npy");
    expect_error("detect --detector kde --train " + at("missing.npy") + " --test " + at("test.npy"), "cannot open");
    expect_error("detect --detector kde --train " + at("train.npy") + " --test " + at("wide.npy"),
                 "--test has 7 columns but --train has 6");
    write_text("nan.csv", "1,2,3,4,5,6\n1,2,nan,4,5,6\n");
    expect_error("detect --detector kde --train " + at("nan.csv") + " --test " + at("test.npy"), "not finite");
    write_text("empty.csv", "a,b\n");
    expect_error("detect --detector kde --train " + at("empty.csv") + " --test " + at("test.npy"), "no data rows");
    expect_error("detect --detector kde --train " + at("one.npy") + " --test " + at("test.npy"),
                 "at least 2 training rows, got 1");
    expect_error("detect --detector ocsvm --nu 1.5" + ok, "--nu must be in (0, 1]");
    expect_error("detect --detector ocsvm --nu 0" + ok, "--nu must be in (0, 1]");
    expect_error("detect --detector kde --gamma 0" + ok, "--gamma must be in [1e-30, 1e30]");
    expect_error("detect --detector kde --gamma -3" + ok, "--gamma must be in [1e-30, 1e30]");
    // 1e-300 once underflowed to 0 in float and silently became the automatic gamma
    expect_error("detect --detector kde --gamma 1e-300" + ok, "--gamma must be in [1e-30, 1e30]");
    // 1e30 once wrote +-inf scores with exit status 0; they are finite now (test_hostile_inputs)
    const auto big = run("detect --detector kde --gamma 1e30" + ok + " --out " + at("big.csv"));
    REQUIRE(big.status == 0);
    for (double v : load_csv_vector<double>(dir / "big.csv")) REQUIRE(std::isfinite(v));
    expect_error("detect --detector kde --gamma 1e31" + ok, "--gamma must be in [1e-30, 1e30]");
    // negative counts once wrapped to 2^64 - 1; a negative thread count printed a 300-digit bound
    expect_error("detect --detector knn --k -1" + ok, "--k: must be a whole number in 1..1000000, got '-1'");
    expect_error("detect --detector knn --k 0" + ok, "--k: must be a whole number");
    expect_error("--threads -1 detect --detector kde" + ok, "--threads: must be a whole number in 1..4096");
    expect_error("detect --detector gmm --components 1.5" + ok, "--components: must be a whole number");
    // an output that cannot be written is refused before the work, by name
    fs::create_directories(dir / "adir");
    expect_error("detect --detector kde" + ok + " --save-model " + at("adir"), "--save-model '" + at("adir") + "' is a directory");
    expect_error("detect --detector kde" + ok + " --save-model " + at("nodir/m.ocm"), "does not exist");
    // a directory given as an input file
    fs::create_directories(dir / "dir.csv");
    expect_error("detect --detector kde --train " + at("dir.csv") + " --test " + at("test.npy"), "is a directory, not a file");
    // a typo in the first row of a CSV is an error, not a header that drops the row
    write_text("typo.csv", "1,2,3,4,5,x\n1,2,3,4,5,6\n1,2,3,4,5,7\n");
    expect_error("detect --detector kde --train " + at("typo.csv") + " --test " + at("test.npy"), "'x' is not a number");
    std::string npy = read_file_bytes(dir / "train.npy", "t");
    npy.replace(npy.find("descr"), 5, "dscr_");
    write_text("corrupt.npy", npy);
    expect_error("detect --detector kde --train " + at("corrupt.npy") + " --test " + at("test.npy"), "descr");
    expect_error("detect --detector kde" + ok + " --labels " + at("short_labels.npy"), "--labels has 99 values");
    expect_error("detect --detector kde" + ok + " --bogus-flag", "bogus");
    expect_error("detect --detector parzen" + ok, "unknown detector 'parzen'");
    expect_error("detect --detector kde --nu 0.3" + ok, "--nu does not apply to detector kde");
    expect_error("detect --detector kde --normalize l3" + ok, "l3");
    expect_error("detect --detector kde --train " + at("train.txt") + " --test " + at("test.npy"), ".npy or .csv");
    write_text("model.ocm", "ONECLASS garbage");
    expect_error("detect --load-model " + at("model.ocm") + " --test " + at("test.npy"), "model.ocm");
    expect_error("frobnicate", "frobnicate");
}

TEST_CASE("oneclass eval on a generated Fashion-MNIST folder; truncated IDX and CIFAR files fail cleanly") {
    setup s;
    std::vector<std::uint8_t> vi;
    write_fashion_mnist(dir / "fm", 80, 40, &vi);
    const auto e = run("eval --dataset fashion-mnist --root " + at("fm") +
                       " --features raw --detector ocsvm,kde,gde --classes 0,3 --out-dir " + at("res"));
    INFO(e.out);
    REQUIRE(e.status == 0);
    REQUIRE_THAT(e.out, Catch::Contains("detector=ocsvm mean_auc=") && Catch::Contains("detector=gde mean_auc="));
    REQUIRE(std::stod(e.out.substr(e.out.find("detector=kde mean_auc=") + 22)) > 0.95);
    const std::string js = read_file_bytes(dir / "res/eval-fashion-mnist-raw.json", "t");
    REQUIRE_THAT(js, Catch::Contains("\"mean_auc\"") && Catch::Contains("\"class\": 3"));
    REQUIRE(read_file_bytes(dir / "res/eval-fashion-mnist-raw.csv", "t").find("fashion-mnist,raw,kde,3,") != std::string::npos);

    // the two-stage pipeline on the same folder: tiny training, features, detectors, AUC table
    const auto p = run("run --root " + at("fm") + " --classes all --method simclr --classes 3 --method rotation --epochs 1 --batch 8 --detector kde,gde" +
                       " --out-dir " + at("res_run") + " --baseline " + at("res/eval-fashion-mnist-raw.csv"));
    INFO(p.out);
    REQUIRE(p.status == 0);
    REQUIRE_THAT(p.out, Catch::Contains("raw-kde") && Catch::Contains("raw-ocsvm"));
    write_text("bad_baseline.csv", "a,b\n1,2\n");
    const auto bb = run("run --root " + at("fm") + " --classes 1 --baseline " + at("bad_baseline.csv") + " --out-dir " +
                        at("res_bb"));
    REQUIRE(bb.status == 2);
    REQUIRE_THAT(bb.out, Catch::Contains("not a results CSV"));
    REQUIRE_THAT(p.out, Catch::Contains("detector=kde features=f method=rotation mean_auc=") && Catch::Contains("+-") &&
                            Catch::Contains("detector=rotnet-sum"));
    REQUIRE(fs::exists(dir / "res_run/run-fashion-mnist-rotation-quick.json"));
    // an ensemble over methods, a contaminated training set, the detector on clean images only, and
    // the ensemble on the validation split too (8 images of class 3: 6 train, 2 validate)
    const auto en = run("run --root " + at("fm") + " --classes 3 --method rotation,simclr --ensemble --epochs 1 --batch 4" +
                        " --detector kde --contamination 0.25 --detector-train 4 --validate 0.25 --progress none --out-dir " + at("res_en") +
                        " --plots " + at("plots"));
    INFO(en.out);
    REQUIRE(en.status == 0);
    REQUIRE_THAT(en.out, Catch::Contains("on 8 images (2 of other classes)") && Catch::Contains("kde@rotation") &&
                             Catch::Contains("kde@simclr") && Catch::Contains("detector=ensemble-kde") &&
                             Catch::Contains("ensemble-kde: auc=") && Catch::Contains("(2 members)") &&
                             Catch::Contains("detector=ensemble-kde[val] features=f"));
    REQUIRE(fs::exists(dir / "res_en/run-fashion-mnist-rotation+simclr-quick-ensemble.json"));
    // --distaug in a list of methods is the DistAug member's
    const auto ed = run("run --root " + at("fm") + " --classes 3 --method rotation,distaug --distaug hflip --ensemble --epochs 1" +
                        " --batch 4 --detector kde --progress none --out-dir " + at("res_ed"));
    INFO(ed.out);
    REQUIRE(ed.status == 0);
    REQUIRE_THAT(ed.out, Catch::Contains("kde@distaug") && Catch::Contains("ensemble-kde"));
    // a validation split from the training split only: [val] columns beside the test ones
    // and each detector under two view sets: the image alone and its four rotations side by side
    const auto va = run("run --root " + at("fm") + " --classes 3 --method rotation --epochs 1 --batch 4 --detector kde --validate 0.25" +
                        " --views none,rot --stages 4,3+4 --progress none --out-dir " + at("res_val"));
    INFO(va.out);
    REQUIRE(va.status == 0);
    REQUIRE_THAT(va.out, Catch::Contains("trained 1 epochs on 6 images") && Catch::Contains("detector=kde[val] features=f") &&
                             Catch::Contains("detector=rotnet-sum[val]") && Catch::Contains("detector=kde:rot features=f") &&
                             Catch::Contains("detector=kde:rot[val] features=f") && Catch::Contains("detector=kde:s3+4 features=f") &&
                             Catch::Contains("detector=kde:rot:s3+4[val] features=f"));
    // the plots PLplot drew: whole PNG files of the set size, nothing temporary left
    const image_u8 bars = load_image(dir / "plots/auc-per-class.png"), roc = load_image(dir / "plots/roc-class3.png");
    REQUIRE((bars.width == 1100 && bars.height == 600 && roc.width == 1000 && roc.height == 600));
    REQUIRE(std::distance(fs::directory_iterator(dir / "plots"), fs::directory_iterator{}) == 2);
    // oneclass plot: a line per group from a CSV
    write_text("sweep.csv", "method,batch,auc\nsimclr,8,0.7\nsimclr,32,0.8\ndistaug,32,0.85\ndistaug,8,0.9\n");
    const auto pl = run("plot --csv " + at("sweep.csv") + " --x batch --y auc --group method --log-x --out " + at("sweep.png"));
    INFO(pl.out);
    REQUIRE(pl.status == 0);
    REQUIRE_THAT(pl.out, Catch::Contains("series=2"));
    REQUIRE(load_image(dir / "sweep.png").width == 1000);
    for (const auto& [args, needle] : std::vector<std::pair<std::string, std::string>>{
             {" --x batch --y aucs --out " + at("p.png"), "--y 'aucs' is not a column"},
             {" --x method --y auc --out " + at("p.png"), "are not numbers"},
             {" --x batch --y auc --out " + at("p.jpg"), "must be a .png file"}}) {
        const auto r = run("plot --csv " + at("sweep.csv") + args);
        INFO(args << "\n" << r.out);
        REQUIRE(r.status == 2);
        REQUIRE_THAT(r.out, Catch::Contains(needle));
        REQUIRE_FALSE(fs::exists(dir / "p.png"));
    }
    write_text("neg.csv", "x,y\n0,1\n1,2\n");
    const auto lg = run("plot --csv " + at("neg.csv") + " --x x --y y --log-x --out " + at("p.png"));
    REQUIRE(lg.status == 2);
    REQUIRE_THAT(lg.out, Catch::Contains("cannot be plotted"));
    REQUIRE_FALSE(fs::exists(dir / "p.png"));
    REQUIRE_FALSE(fs::exists(dir / "p.png.tmp.png"));
    for (const auto& [args, needle] : std::vector<std::pair<std::string, std::string>>{
             {" --classes 3 --contamination 0.6", "--contamination must be in [0, 0.5]"},
             {" --classes 3 --method rotation,simclr", "add --ensemble"},
             {" --classes 3 --method rotation --ensemble", "--ensemble needs several members"},
             {" --classes 3 --method distaug --distaug 0,9", "--distaug must be rot, hflip"},
             {" --classes 3 --method distaug --distaug 0", "at least two distributions"},
             {" --classes 3 --method rotation --distaug rot", "--distaug applies to --method distaug"},
             {" --classes 3 --detector-train 1", "--detector-train"},
             {" --classes 3 --validate 0.8", "--validate must be in [0, 0.5]"},
             {" --classes 3 --views none,spin", "--views must list none, hflip, rot or rot+hflip, got 'spin'"},
             {" --classes 3 --views rot,rot", "--views lists rot twice"},
             {" --classes 3 --stages 4,5", "--stages entries are stages 1..4 joined by '+' (e.g. 4, 3+4), got '5'"},
             {" --classes 3 --stages 3+", "got '3+'"},
             {" --classes 3 --stages 4+3", "--stages '4+3': stages must be ascending without repeats"},
             {" --classes 3 --stages 3+4,3+4", "--stages lists 3+4 twice"},
             {" --classes 3 --method simclr --features gf --stages 3+4", "--stages 3+4 needs --features f"}}) {
        const auto r = run("run --root " + at("fm") + args + " --out-dir " + at("res_never"));
        INFO(args << "\n" << r.out);
        REQUIRE(r.status == 2);
        REQUIRE_THAT(r.out, Catch::Contains(needle));
        REQUIRE_FALSE(fs::exists(dir / "res_never"));
    }
    const auto bad_method = run("run --root " + at("fm") + " --method jigsaw --out-dir " + at("res5"));
    REQUIRE(bad_method.status == 2);
    REQUIRE_THAT(bad_method.out, Catch::Contains("jigsaw"));
    const auto bad_batch = run("run --root " + at("fm") + " --classes 0 --batch 64 --out-dir " + at("res6"));
    REQUIRE(bad_batch.status == 2);
    REQUIRE_THAT(bad_batch.out, Catch::Contains("at least batch = 64"));

    const auto bad_class = run("eval --root " + at("fm") + " --classes 0,12 --out-dir " + at("res2"));
    REQUIRE(bad_class.status == 2);
    REQUIRE_THAT(bad_class.out, Catch::Contains("'12' is not a class in 0..9"));
    // truncated IDX
    const std::string img = idx({40, 28, 28}, vi);
    gz(dir / "fm/t10k-images-idx3-ubyte.gz", img.substr(0, img.size() - 100));
    const auto t = run("eval --root " + at("fm") + " --classes 0 --out-dir " + at("res3"));
    REQUIRE(t.status == 2);
    REQUIRE_THAT(t.out, Catch::Contains("truncated"));
    REQUIRE_FALSE(fs::exists(dir / "res3/eval-fashion-mnist-raw.json"));
    // truncated CIFAR batch
    fs::create_directories(dir / "c10");
    write_text("c10/data_batch_1.bin", std::string(3073 + 10, '\1'));
    const auto c = run("eval --dataset cifar10 --root " + at("c10") + " --classes 0 --out-dir " + at("res4"));
    REQUIRE(c.status == 2);
    REQUIRE_THAT(c.out, Catch::Contains("truncated"));
    const auto nr = run("eval --dataset cifar10 --classes 0");
    REQUIRE(nr.status == 2);
    REQUIRE_THAT(nr.out, Catch::Contains("--root is required"));
}

#ifdef ONECLASS_MPIEXEC
TEST_CASE("mpirun ... oneclass train / eval --model / features / run: data-parallel and split, one writer, --resume with the same ranks only") {
    setup s;
    write_fashion_mnist(dir / "fm", 400, 60);
    const std::string mpi_env = "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl_vader_single_copy_mechanism=none";
    const std::string np1 = std::string(ONECLASS_MPIEXEC) + " -np 1 --oversubscribe", np2 = std::string(ONECLASS_MPIEXEC) + " -np 2 --oversubscribe";
    const std::string common = " --root " + at("fm") + " --class 2 --method rotation --epochs 2 --batch 8 --progress log";
    const std::string ev = " --root " + at("fm") + " --detector kde --out-dir ";
    const auto auc_of = [&](const std::string& model, const std::string& out) {
        const auto e = run("eval --model " + at(model) + ev + at(out));
        INFO(e.out);
        REQUIRE(e.status == 0);
        return e.out.substr(e.out.find("detector=kde mean_auc="), 40);
    };
    // one rank is the plain trainer bit for bit: the same AUCs to every printed digit
    const auto plain = run("train" + common + " --out " + at("plain.ocm"));
    const auto one = run("train" + common + " --out " + at("one.ocm"), mpi_env, np1);
    INFO(plain.out << one.out);
    REQUIRE(plain.status == 0);
    REQUIRE(one.status == 0);
    REQUIRE(auc_of("plain.ocm", "e0") == auc_of("one.ocm", "e1"));
    // two ranks: one model, written and reported once
    const auto two = run("train" + common + " --sync-batch-norm --out " + at("two.ocm"), mpi_env, np2);
    INFO(two.out);
    REQUIRE(two.status == 0);
    REQUIRE(two.out.find("model=") == two.out.rfind("model="));
    REQUIRE(two.out.find("epoch 2/2 done") == two.out.rfind("epoch 2/2 done"));
    REQUIRE(fs::exists(dir / "two.ocm"));
    REQUIRE_FALSE(fs::exists(dir / "two.ocm.ckpt"));
    // a real SIGINT in every rank after step 3: all stop at the same step, rank 0 keeps the checkpoint
    const auto cut = run("train" + common + " --sync-batch-norm --out " + at("cut.ocm"), mpi_env + " ONECLASS_TEST_SIGINT_AT_STEP=3", np2);
    INFO(cut.out);
    REQUIRE(cut.status != 0);
    REQUIRE_THAT(cut.out, Catch::Contains("interrupted"));
    REQUIRE(fs::exists(dir / "cut.ocm.ckpt"));
    // resumed in one process, or without --sync-batch-norm: refused; with the same two ranks: the uninterrupted model
    const auto alone = run("train" + common + " --resume --out " + at("cut.ocm"));
    REQUIRE(alone.status == 2);
    REQUIRE_THAT(alone.out, Catch::Contains("written by a run of 2 rank(s) with synchronised batch norm, this run has 1"));
    const auto resumed = run("train" + common + " --sync-batch-norm --resume --out " + at("cut.ocm"), mpi_env, np2);
    INFO(resumed.out);
    REQUIRE(resumed.status == 0);
    REQUIRE(resumed.out.find("resuming from") == resumed.out.rfind("resuming from"));
    REQUIRE(auc_of("two.ocm", "e2") == auc_of("cut.ocm", "e3"));
    // a rank that dies (SIGKILL after step 7, in epoch 2): the job ends, not hangs, and the
    // checkpoint rank 0 wrote after epoch 1 resumes to the uninterrupted model
    const auto died = run("train" + common + " --sync-batch-norm --out " + at("died.ocm"), mpi_env + " ONECLASS_TEST_KILL_AT_STEP=7", np2);
    INFO(died.out);
    REQUIRE(died.status != 0);
    REQUIRE_FALSE(fs::exists(dir / "died.ocm"));
    REQUIRE(fs::exists(dir / "died.ocm.ckpt"));
    const auto revived = run("train" + common + " --sync-batch-norm --resume --out " + at("died.ocm"), mpi_env, np2);
    INFO(revived.out);
    REQUIRE(revived.status == 0);
    REQUIRE_THAT(revived.out, Catch::Contains("at step 5"));
    REQUIRE(auc_of("two.ocm", "e8") == auc_of("died.ocm", "e9"));
    // eval --model and features: each rank extracts its block of the images and scores its block
    // of the rows; the results equal one process's (the same AUCs; features to float rounding)
    const auto ev2 = run("eval --model " + at("two.ocm") + ev + at("e4"), mpi_env, np2);
    const auto ev1 = run("eval --model " + at("two.ocm") + ev + at("e5"));
    INFO(ev2.out);
    REQUIRE(ev2.status == 0);
    REQUIRE(ev1.status == 0);
    REQUIRE(ev2.out.find("results=") == ev2.out.rfind("results="));
    const auto auc_lines = [](const std::string& out) {
        std::istringstream in(out);
        std::string line, lines;
        while (std::getline(in, line))
            if (line.find("mean_auc=") != std::string::npos) lines += line + "\n";
        return lines;
    };
    REQUIRE(auc_lines(ev2.out).size() > 0);
    REQUIRE(auc_lines(ev2.out) == auc_lines(ev1.out));
    const auto f2 = run("features --model " + at("two.ocm") + " --root " + at("fm") + " --out " + at("f2.npy"), mpi_env, np2);
    const auto f1 = run("features --model " + at("two.ocm") + " --root " + at("fm") + " --out " + at("f1.npy"));
    REQUIRE(f2.status == 0);
    REQUIRE(f1.status == 0);
    const auto F1 = load_npy_matrix<float>(dir / "f1.npy"), F2 = load_npy_matrix<float>(dir / "f2.npy");
    REQUIRE(F1.rows() == F2.rows());
    REQUIRE_ALLCLOSE(F2.values(), F1.values(), 1e-5, 1e-6);
    // run: trained data-parallel, evaluated split, written once
    const auto r2 = run("run --root " + at("fm") + " --classes 1,2 --method rotation --epochs 1 --batch 8 --detector kde --progress none" +
                            " --out-dir " + at("r2") + " --plots " + at("r2p"), mpi_env, np2);
    INFO(r2.out);
    REQUIRE(r2.status == 0);
    REQUIRE(fs::exists(dir / "r2p" / "auc-per-class.png"));
    // MVTec: a patch model trained data-parallel, evaluated with the patches' features split:
    // the same metrics as one process, heat maps written once
    const fs::path mv = dir / "mvtec";
    test::make_mvtec(mv, "stripes", {.train = 6, .test_good = 3, .test_defect = 3, .size = 48, .channels = 3, .seed = 6});
    const std::string mcommon = " --dataset mvtec --root " + mv.string() + " --category stripes --patch 16 --image-size 48";
    const auto mt = run("train" + mcommon + " --method rotation --preset quick --epochs 1 --patches 128 --progress none --out " +
                            at("mv.ocm"), mpi_env, np2);
    INFO(mt.out);
    REQUIRE(mt.status == 0);
    const std::string meval = "eval" + mcommon + " --model " + at("mv.ocm") + " --detector kde,gde --fit-patches 200 --out-dir ";
    const auto me2 = run(meval + at("mv2") + " --heatmaps " + at("mvh"), mpi_env, np2), me1 = run(meval + at("mv1"));
    INFO(me2.out << me1.out);
    REQUIRE(me2.status == 0);
    REQUIRE(me1.status == 0);
    const auto metric_lines = [](const std::string& out) {
        std::istringstream in(out);
        std::string line, lines;
        while (std::getline(in, line))
            // the table's lines (not the progress lines, which carry times)
            if ((line.rfind("stripes ", 0) == 0 || line.rfind("mean_", 0) == 0) && line.find("image_auc=") == std::string::npos)
                lines += line + "\n";
        return lines;
    };
    REQUIRE(metric_lines(me2.out).size() > 0);
    REQUIRE(metric_lines(me2.out) == metric_lines(me1.out));
    REQUIRE(fs::exists(dir / "mvh/stripes/gde/grid.png"));
    // the commands that do not run split yet say so; --sync-batch-norm needs mpirun
    const auto ex = run("eval --root " + at("fm") + " --features raw --detector kde --out-dir " + at("e6"), mpi_env, np2);
    REQUIRE(ex.status != 0);
    REQUIRE_THAT(ex.out, Catch::Contains("under mpirun only train, run, eval --model, features and detect run"));
    REQUIRE_THAT(ex.out, Catch::Contains("rank "));  // each rank's own error, then MPI_Abort ends the job
    expect_error("train" + common + " --sync-batch-norm", "--sync-batch-norm needs an MPI job");
}
#endif

TEST_CASE("oneclass train / eval --model / Ctrl-C and --resume / metrics, and their bad inputs") {
    setup s;
    write_fashion_mnist(dir / "fm", 400, 60);  // 40 training images per class
    const std::string common = " --root " + at("fm") + " --class 2 --epochs 2 --batch 8 --progress log";
    // uninterrupted run
    const auto a = run("train" + common + " --method simclr --out " + at("a.ocm") + " --metrics " + at("a.jsonl"));
    INFO(a.out);
    REQUIRE(a.status == 0);
    REQUIRE_THAT(a.out, Catch::Contains("model=" + at("a.ocm")) && Catch::Contains("epoch 2/2 done"));
    REQUIRE(fs::exists(dir / "a.ocm"));
    REQUIRE_FALSE(fs::exists(dir / "a.ocm.ckpt"));  // removed once the model is written
    const std::string metrics = read_file_bytes(dir / "a.jsonl", "t");
    REQUIRE(std::count(metrics.begin(), metrics.end(), '\n') == 10 + 2);  // 5 steps x 2 epochs + 2 epoch lines
    {
        std::istringstream lines(metrics);
        std::string line;
        std::getline(lines, line);
        const auto first = nlohmann::ordered_json::parse(line);  // throws on anything but JSON
        std::vector<std::string> keys;
        for (const auto& [k, v] : first.items()) keys.push_back(k);
        REQUIRE(keys == std::vector<std::string>{"event", "class", "seed", "epoch", "step", "loss", "lr", "images_per_s", "elapsed_s"});
        REQUIRE(first["event"] == "step");
        REQUIRE(first["class"] == 2);
        REQUIRE(first["step"] == 1);
        REQUIRE(first["loss"].is_number());
        std::size_t epochs = 0;
        while (std::getline(lines, line)) epochs += nlohmann::json::parse(line)["event"] == "epoch";
        REQUIRE(epochs == 2);
    }
    // interrupted by a real SIGINT after step 3 (mid-epoch 1), then resumed
    const auto b = run("train" + common + " --method simclr --out " + at("b.ocm") + " --metrics " + at("b.jsonl"),
                       "ONECLASS_TEST_SIGINT_AT_STEP=3");
    INFO(b.out);
    REQUIRE(b.status == 130);
    REQUIRE_THAT(b.out, Catch::Contains("interrupted") && Catch::Contains("--resume"));
    REQUIRE(fs::exists(dir / "b.ocm.ckpt"));
    REQUIRE_FALSE(fs::exists(dir / "b.ocm"));
    fs::copy_file(dir / "b.jsonl", dir / "b_interrupted.jsonl");
    const auto br = run("train" + common + " --method simclr --out " + at("b.ocm") + " --resume --metrics " + at("b.jsonl"));
    INFO(br.out);
    REQUIRE(br.status == 0);
    REQUIRE_THAT(br.out, Catch::Contains("resuming from") && Catch::Contains("at step 3"));
    // the resumed model gives exactly the uninterrupted model's AUCs (and its step losses)
    const std::string ev = " --root " + at("fm") + " --detector kde,ocsvm --features gf --out-dir ";
    const auto ea = run("eval --model " + at("a.ocm") + ev + at("ea")), eb = run("eval --model " + at("b.ocm") + ev + at("eb"));
    INFO(ea.out << eb.out);
    REQUIRE(ea.status == 0);
    REQUIRE(eb.status == 0);
    const auto auc_lines = [](const std::string& o) { return o.substr(o.find("detector=kde mean_auc="), 60); };
    REQUIRE(auc_lines(ea.out) == auc_lines(eb.out));
    REQUIRE(std::stod(ea.out.substr(ea.out.find("detector=kde mean_auc=") + 22)) > 0.5);
    // the resumed run appended to the interrupted run's metrics: together, the uninterrupted run's steps
    const std::string m1 = read_file_bytes(dir / "b_interrupted.jsonl", "t"), m2 = read_file_bytes(dir / "b.jsonl", "t");
    REQUIRE(m2.rfind(m1, 0) == 0);
    REQUIRE(std::count(m2.begin(), m2.end(), '\n') == std::count(metrics.begin(), metrics.end(), '\n'));
    const auto loss_at = [](const std::string& m, int step) {  // exact: nlohmann writes doubles round-trip
        std::istringstream lines(m);
        for (std::string line; std::getline(lines, line);) {
            const auto j = nlohmann::json::parse(line);
            if (j["event"] == "step" && j["step"] == step) return j["loss"].get<double>();
        }
        FAIL("no step " << step << " in the metrics");
        return 0.0;
    };
    REQUIRE(loss_at(m1, 3) == loss_at(metrics, 3));
    REQUIRE(loss_at(m2, 8) == loss_at(metrics, 8));
    REQUIRE(fs::exists(dir / "ea/eval-fashion-mnist-simclr-gf-class2.json"));

    // the denoising autoencoder reports its reconstruction score next to the detectors
    const auto d = run("train" + common + " --method dae --out " + at("d.ocm"));
    REQUIRE(d.status == 0);
    const auto ed = run("eval --model " + at("d.ocm") + " --root " + at("fm") + " --detector kde --out-dir " + at("ed"));
    INFO(ed.out);
    REQUIRE(ed.status == 0);
    REQUIRE_THAT(ed.out, Catch::Contains("detector=dae-recon mean_auc=") && Catch::Contains("detector=kde mean_auc="));
    const auto ev2 = run("eval --model " + at("d.ocm") + " --root " + at("fm") + " --detector kde --views hflip,none --stages 4,2+3" +
                         " --out-dir " + at("ed3"));
    INFO(ev2.out);
    REQUIRE(ev2.status == 0);
    REQUIRE_THAT(ev2.out, Catch::Contains("detector=kde:hflip mean_auc=") && Catch::Contains("detector=kde mean_auc=") &&
                              Catch::Contains("detector=kde:hflip:s2+3 mean_auc=") && Catch::Contains("detector=kde:s2+3 mean_auc="));
    const auto edg = run("eval --model " + at("d.ocm") + " --root " + at("fm") + " --features gf --out-dir " + at("ed2"));
    REQUIRE(edg.status == 2);
    REQUIRE_THAT(edg.out, Catch::Contains("no projection head"));

    // bad input: one line, exit 2, no model written
    auto bad = [&](const std::string& args, const std::string& needle) {
        INFO(args);
        const auto r = run(args);
        INFO(r.out);
        REQUIRE(r.status == 2);
        REQUIRE_THAT(r.out, Catch::Contains("oneclass: error:") && Catch::Contains(needle));
        REQUIRE(error_lines(r.err) == 1);
        REQUIRE_FALSE(fs::exists(dir / "never.ocm"));
    };
    bad("train --root " + at("fm") + " --class 12 --out " + at("never.ocm"), "--class 12 is not a class in 0..9");
    bad("train --root " + at("fm") + " --class 1 --method jigsaw --out " + at("never.ocm"), "jigsaw");
    bad("train --root " + at("fm") + " --class 1 --arch resnet50 --out " + at("never.ocm"), "resnet50");
    bad("train --root " + at("fm") + " --class 1 --resume --out " + at("never.ocm"), "no checkpoint");
    bad("train --root " + at("fm") + " --class 1 --out " + at("nodir/never.ocm"), "does not exist");
    bad("train --root " + at("nofm") + " --class 1 --out " + at("never.ocm"), "nofm");
    bad("train --root " + at("fm") + " --class 1 --progress fancy --out " + at("never.ocm"), "--progress");
    // 0 once silently meant "the preset's" (--epochs 0 trained 3 epochs)
    bad("train --root " + at("fm") + " --class 1 --epochs 0 --out " + at("never.ocm"), "--epochs: must be a whole number in 1..");
    bad("train --root " + at("fm") + " --class 1 --batch 0 --out " + at("never.ocm"), "--batch: must be a whole number in 2..");
    bad("train --root " + at("fm") + " --class 1 --lr 0 --out " + at("never.ocm"), "--lr must be in (0, 100]");
    bad("train --root " + at("fm") + " --class 1 --lr 1e10 --out " + at("never.ocm"), "--lr must be in (0, 100]");
    bad("train --root " + at("fm") + " --class 1 --width 0 --out " + at("never.ocm"), "--width must be in (0, 4]");
    bad("train --root " + at("fm") + " --class 1 --channels 2 --out " + at("never.ocm"), "--channels must be 1 or 3, got 2");
    bad("train --root " + at("fm") + " --class 1 --train-limit 0 --out " + at("never.ocm"), "--train-limit: must be");
    bad("train --root " + at("fm") + " --class -2 --out " + at("never.ocm"), "--class: must be a whole number");
    // outputs are checked before training, not after it (an existing folder as --out, an
    // unwritable checkpoint place)
    fs::create_directories(dir / "outdir");
    bad("train --root " + at("fm") + " --class 1 --out " + at("outdir"), "--out '" + at("outdir") + "' is a directory");
    bad("train --root " + at("fm") + " --class 1 --out " + at("never.ocm") + " --checkpoint " + at("nodir/c.ckpt"),
        "--checkpoint '" + at("nodir/c.ckpt") + "': folder");
    bad("train --root " + at("fm") + " --class 1 --out " + at("never.ocm") + " --metrics " + at("outdir"),
        "--metrics '" + at("outdir") + "' is a directory");
    bad("eval --model " + at("missing.ocm") + " --root " + at("fm"), "missing.ocm");
    bad("eval --model " + at("a.ocm") + " --root " + at("fm") + " --classes 3", "trained on class 2");
    bad("eval --model " + at("a.ocm") + " --dataset cifar10 --root " + at("fm"), "trained on fashion-mnist");
    write_text("junk.ocm", "ONECLASS and then nothing useful");
    bad("eval --model " + at("junk.ocm") + " --root " + at("fm"), "junk.ocm");
    bad("eval --root " + at("fm") + " --features f", "needs --model");
    bad("eval --root " + at("fm") + " --views rot", "--views needs --model");
    bad("eval --root " + at("fm") + " --stages 3+4", "--stages needs --model");
    {  // a model file whose records are not numbers (written through the library, not by train)
        pipeline::representation_config cfg;
        cfg.net = {.depth = 10, .width = 1.0 / 16};
        cfg.head_hidden = {8};
        cfg.head_out = 4;
        pipeline::representation rep(cfg, 1);
        rep.save(dir / "oddmeta.ocm", {{"dataset", "fashion-mnist"}, {"attribute", "Eyeglasses"}, {"class", "two"},
                                       {"image_size", "32"}, {"train_limit", "0"}});
        bad("eval --model " + at("oddmeta.ocm") + " --root " + at("fm"), "record 'class' = 'two' is not a number");
    }
    // an output folder that cannot be created (a path through a regular file)
    write_text("plain_file", "x");
    bad("run --root " + at("fm") + " --classes 2 --epochs 1 --batch 8 --out-dir " + at("plain_file/sub"), "plain_file");
    bad("eval --root " + at("fm") + " --features raw --out-dir " + at("plain_file/sub"), "plain_file");
    bad("train" + common + " --out " + at("plain_file/never.ocm"), "plain_file");
    // resuming with another configuration names the field
    const auto c = run("train" + common + " --method simclr --out " + at("c.ocm"), "ONECLASS_TEST_SIGINT_AT_STEP=2");
    REQUIRE(c.status == 130);
    bad("train" + common + " --method simclr --lr 0.5 --resume --out " + at("c.ocm"), "written for lr 0.05");
}

TEST_CASE("oneclass explain and features: heat maps, maps and CSV, the pointing game, features and their uniformity, one-line errors") {
    setup s;
    write_fashion_mnist(dir / "fm", 400, 60);
    const std::string common = " --root " + at("fm") + " --class 2 --epochs 1 --batch 8 --progress log";
    REQUIRE(run("train" + common + " --method rotation --out " + at("r.ocm")).status == 0);
    REQUIRE(run("train" + common + " --method simclr --out " + at("s.ocm")).status == 0);
    REQUIRE(run("train" + common + " --method dae --out " + at("d.ocm")).status == 0);
    const auto e = run("explain --model " + at("r.ocm") + " --dataset fashion-mnist --root " + at("fm") +
                       " --detector kde,gde,proxy --method gradient,ig,gradcam --steps 4 --count 3 --out " + at("ex"));
    INFO(e.out);
    REQUIRE(e.status == 0);
    REQUIRE_THAT(e.out, Catch::Contains("kde ig:") && Catch::Contains("completeness gap max") && Catch::Contains("proxy gradcam:"));
    for (const char* d : {"kde", "gde", "proxy"})
        for (const char* m : {"gradient", "ig", "gradcam"}) {
            const std::string npy = read_file_bytes(dir / "ex" / (std::string(d) + "-" + m + ".npy"), "t");
            REQUIRE_THAT(npy, Catch::Contains("'shape': (3, 32, 32)"));
            REQUIRE(npy.size() > 3 * 32 * 32 * 4);
            REQUIRE(fs::exists(dir / "ex/images" / ("2-" + std::string(d) + "-" + m + ".png")));
        }
    const image_u8 grid = load_image(dir / "ex/grid.png");
    REQUIRE(grid.height > 3 * 112);
    const std::string csv = read_file_bytes(dir / "ex/explain.csv", "t");
    REQUIRE(std::count(csv.begin(), csv.end(), '\n') == 1 + 3 * 3 * 3);
    REQUIRE_THAT(csv, Catch::Contains(",anomalous,kde,ig,"));
    // the pointing game on normal test images with pasted squares
    const auto pg = run("explain --model " + at("r.ocm") + " --dataset fashion-mnist --root " + at("fm") +
                        " --detector kde --method gradcam --count 4 --pointing-game 8 --out " + at("pg"));
    INFO(pg.out);
    REQUIRE(pg.status == 0);
    REQUIRE_THAT(pg.out, Catch::Contains("pointing game: 4 images, 8 x 8 noise squares, chance (area share) 0.062"));
    REQUIRE_THAT(read_file_bytes(dir / "pg/explain.csv", "t"), Catch::Contains(",pasted,kde,gradcam,"));
    // own images: fitted on --train's folder, resized to the model's size
    fs::create_directories(dir / "mine");
    fs::create_directories(dir / "normal");
    for (int i = 0; i < 4; ++i) {
        image_u8 img{40, 40, 1, std::vector<std::uint8_t>(1600, std::uint8_t(40 * i))};
        save_png(dir / "mine" / ("m" + std::to_string(i) + ".png"), img);
        for (std::size_t p = 0; p < img.pixels.size(); p += 7) img.pixels[p] = 200;
        save_png(dir / "normal" / ("n" + std::to_string(i) + ".png"), img);
    }
    const auto own = run("explain --model " + at("r.ocm") + " --images " + at("mine") + " --train " + at("normal") +
                         " --detector ocsvm --method gradient --out " + at("own"));
    INFO(own.out);
    REQUIRE(own.status == 0);
    REQUIRE_THAT(read_file_bytes(dir / "own/ocsvm-gradient.npy", "t"), Catch::Contains("'shape': (4, 32, 32)"));

    // the features out, and their uniformity (section 5.1) in eval's output and JSON
    const auto fx = run("features --model " + at("r.ocm") + " --root " + at("fm") + " --out " + at("f.npy") + " --labels " + at("y.npy"));
    INFO(fx.out);
    REQUIRE(fx.status == 0);
    REQUIRE_THAT(read_file_bytes(dir / "f.npy", "t"), Catch::Contains("'shape': (60, 128)"));
    REQUIRE_THAT(read_file_bytes(dir / "y.npy", "t"), Catch::Contains("'shape': (60,)"));
    REQUIRE(run("features --model " + at("r.ocm") + " --root " + at("fm") + " --split train --features gf --out " + at("g.npy")).status == 0);
    REQUIRE_THAT(read_file_bytes(dir / "g.npy", "t"), Catch::Contains("'shape': (40, 32)"));
    const auto un = run("eval --model " + at("r.ocm") + " --root " + at("fm") + " --detector kde --uniformity --out-dir " + at("un"));
    INFO(un.out);
    REQUIRE(un.status == 0);
    REQUIRE_THAT(un.out, Catch::Contains("features=f uniformity=-") && Catch::Contains("features=gf uniformity=-") &&
                             Catch::Contains("mmd2="));
    const auto unjs = nlohmann::json::parse(read_file_bytes(dir / "un/eval-fashion-mnist-rotation-f-class2.json", "t"));
    REQUIRE(unjs["uniformity"]["f"]["uniformity"].get<double>() < 0);
    REQUIRE(unjs["uniformity"]["gf"]["rows"] == 40);

    // one line, exit 2, and `out` (the command's --out) never written
    auto bad = [&](const std::string& args, const std::string& needle, const std::string& out = "never") {
        INFO(args);
        const auto r = run(args + " --out " + at(out));
        INFO(r.out);
        REQUIRE(r.status == 2);
        REQUIRE_THAT(r.out, Catch::Contains("oneclass: error:") && Catch::Contains(needle));
        REQUIRE(error_lines(r.err) == 1);
        REQUIRE_FALSE(fs::exists(dir / out));
    };
    const std::string m = "explain --model " + at("r.ocm") + " --dataset fashion-mnist --root " + at("fm");
    bad(m + " --detector knn", "--detector knn has no score gradient");
    bad(m + " --method lime", "unknown method 'lime'");
    bad(m + " --baseline white", "--baseline");
    bad(m + " --stage 5", "--stage");
    bad(m + " --detector kde --nu 0.2", "--nu does not apply to detector kde");
    bad("explain --model " + at("s.ocm") + " --dataset fashion-mnist --root " + at("fm") + " --detector proxy",
        "a simclr model has no score of its own");
    bad("explain --model " + at("r.ocm") + " --images " + at("mine"), "give --train DIR");
    bad("explain --model " + at("d.ocm") + " --dataset fashion-mnist --root " + at("fm") + " --features gf", "no projection head");
    bad(m + " --features h", "--features must be f or gf");
    bad(m + " --images " + at("mine") + " --pointing-game 8", "drop --images");
    bad("explain --model " + at("r.ocm") + " --dataset cifar10 --root " + at("fm"), "trained on fashion-mnist");
    bad("explain --model " + at("missing.ocm") + " --dataset fashion-mnist --root " + at("fm"), "missing.ocm");
    bad("features --model " + at("d.ocm") + " --root " + at("fm") + " --features gf", "no projection head", "never.npy");
    bad("features --model " + at("r.ocm") + " --root " + at("fm") + " --class 3", "trained on class 2", "never.npy");
    bad("features --model " + at("r.ocm") + " --root " + at("fm") + " --split validation", "--split", "never.npy");
    const auto csv_out = run("features --model " + at("r.ocm") + " --root " + at("fm") + " --out " + at("f.csv"));
    REQUIRE(csv_out.status == 2);
    REQUIRE_THAT(csv_out.out, Catch::Contains("must be a .npy file"));
    const auto nomodel = run("eval --root " + at("fm") + " --uniformity --out-dir " + at("never"));
    REQUIRE(nomodel.status == 2);
    REQUIRE_THAT(nomodel.out, Catch::Contains("--uniformity needs --model"));
    const auto sig = run("eval --model " + at("r.ocm") + " --root " + at("fm") + " --uniformity --mmd-sigma 0 --out-dir " + at("never"));
    REQUIRE(sig.status == 2);
    REQUIRE_THAT(sig.out, Catch::Contains("--mmd-sigma must be > 0"));
    REQUIRE_FALSE(fs::exists(dir / "never"));
}

TEST_CASE("oneclass on image folders: generic folder, cat-vs-dog and CelebA layouts from generated files") {
    setup s;
    rng r(3);
    // class "bars_h" has a horizontal bar, "bars_v" a vertical one; 20 train / 8 test images each
    auto bar = [&](bool vertical) {
        image_u8 im{24, 24, 3, std::vector<std::uint8_t>(24 * 24 * 3)};
        const std::size_t at = 4 + r.below(16);
        for (std::size_t y = 0; y < 24; ++y)
            for (std::size_t x = 0; x < 24; ++x)
                for (std::size_t c = 0; c < 3; ++c)
                    im.pixels[(y * 24 + x) * 3 + c] = std::uint8_t(((vertical ? x : y) == at ? 220 : 20) + r.below(20));
        return im;
    };
    for (const char* split : {"train", "test"})
        for (int c = 0; c < 2; ++c) {
            // a class name a CSV or JSON writer must quote / escape: comma, quote, tab
            const auto d = dir / "folder" / split / (c ? "bars \"v\",\tx" : "bars_h");
            fs::create_directories(d);
            for (int i = 0; i < (split[1] == 'r' ? 20 : 8); ++i) save_png(d / ("i" + std::to_string(i) + ".png"), bar(c == 1));
        }
    const auto e = run("eval --dataset folder --root " + at("folder") + " --image-size 16 --features raw --detector kde" +
                       " --out-dir " + at("fres"));
    INFO(e.out);
    REQUIRE(e.status == 0);
    REQUIRE_THAT(e.out, Catch::Contains("bars_h") && Catch::Contains("bars \"v\""));
    {  // the results files hold the name exactly: JSON escaped, CSV quoted (and read back as a baseline)
        const auto js = nlohmann::json::parse(read_file_bytes(dir / "fres/eval-folder-raw.json", "t"));
        REQUIRE(js["results"][0]["class_name"] == "bars \"v\",\tx");
        REQUIRE_THAT(read_file_bytes(dir / "fres/eval-folder-raw.csv", "t"), Catch::Contains(",\"bars \"\"v\"\",\tx\","));
    }
    const auto p = run("run --dataset folder --root " + at("folder") + " --image-size 16 --classes 0 --epochs 1 --batch 8" +
                       " --method rotation --detector kde --progress none --baseline " + at("fres/eval-folder-raw.csv") +
                       " --out-dir " + at("fres2"));
    INFO(p.out);
    REQUIRE(p.status == 0);
    REQUIRE_THAT(p.out, Catch::Contains("detector=kde features=f method=rotation mean_auc=") && Catch::Contains("raw-kde"));
    const auto t = run("train --dataset folder --root " + at("folder") + " --image-size 16 --class 1 --epochs 1 --batch 8" +
                       " --progress none --out " + at("f.ocm"));
    REQUIRE(t.status == 0);
    const auto te = run("eval --dataset folder --root " + at("folder") + " --model " + at("f.ocm") + " --detector gde" +
                        " --out-dir " + at("fres3"));
    INFO(te.out);
    REQUIRE(te.status == 0);
    REQUIRE_THAT(te.out, Catch::Contains("detector=gde mean_auc="));
    const auto wrong = run("eval --dataset folder --root " + at("folder") + " --image-size 24 --model " + at("f.ocm") +
                           " --out-dir " + at("fres4"));
    REQUIRE(wrong.status == 2);
    REQUIRE_THAT(wrong.out, Catch::Contains("trained on 16 px images"));
    const auto odd = run("eval --dataset folder --root " + at("folder") + " --image-size 20 --out-dir " + at("fres5"));
    REQUIRE(odd.status == 2);
    REQUIRE_THAT(odd.out, Catch::Contains("multiple of 8"));
    const auto nofolder = run("eval --dataset folder --root " + at("nothing") + " --out-dir " + at("fres6"));
    REQUIRE(nofolder.status == 2);
    REQUIRE_THAT(nofolder.out, Catch::Contains("nothing"));

    // cat-vs-dog: cats bright on the left half, dogs on the right; raw-pixel KDE separates them
    fs::create_directories(dir / "cvd");
    auto half = [&](std::size_t h, std::size_t w, bool left) {
        image_u8 im{h, w, 3, std::vector<std::uint8_t>(h * w * 3)};
        for (std::size_t p = 0; p < h * w; ++p)
            for (std::size_t c = 0; c < 3; ++c)
                im.pixels[p * 3 + c] = std::uint8_t(((p % w < w / 2) == left ? 200 : 30) + r.below(20));
        return im;
    };
    for (int i = 0; i < 10; ++i) {
        const image_u8 cat = half(20, 30, true), dog = half(30, 20, false);
        save_png(dir / "cvd" / ("cat." + std::to_string(i) + ".jpg"), cat);  // decoded by content
        save_png(dir / "cvd" / ("dog." + std::to_string(i) + ".jpg"), dog);
    }
    const auto c = run("eval --dataset cat-vs-dog --root " + at("cvd") + " --image-size 16 --features raw --detector kde" +
                       " --classes 0 --out-dir " + at("cres"));
    INFO(c.out);
    REQUIRE(c.status == 0);
    REQUIRE(std::stod(c.out.substr(c.out.find("detector=kde mean_auc=") + 22)) > 0.99);

    // CelebA: attribute "Eyeglasses" = a dark band across the eyes
    fs::create_directories(dir / "celeba/img_align_celeba");
    std::ofstream attr(dir / "celeba/list_attr_celeba.txt"), part(dir / "celeba/list_eval_partition.txt");
    attr << "40\nEyeglasses Smiling\n";
    for (int i = 0; i < 40; ++i) {
        char name[16];
        std::snprintf(name, sizeof name, "%06d.jpg", i + 1);
        const bool glasses = i % 4 == 1;
        image_u8 face{36, 30, 3, std::vector<std::uint8_t>(36 * 30 * 3)};
        for (auto& v : face.pixels) v = std::uint8_t(180 + r.below(30));
        if (glasses)
            for (std::size_t k = 12 * 30 * 3; k < 18 * 30 * 3; ++k) face.pixels[k] = 10;
        save_png(dir / "celeba/img_align_celeba" / name, face);
        attr << name << (glasses ? "  1" : " -1") << " -1\n";
        part << name << " " << (i < 24 ? 0 : i < 28 ? 1 : 2) << "\n";
    }
    attr.close();
    part.close();
    const auto ce = run("eval --dataset celeba --root " + at("celeba") + " --image-size 16 --features raw --detector kde" +
                        " --classes 0 --out-dir " + at("ceres"));
    INFO(ce.out);
    REQUIRE(ce.status == 0);
    REQUIRE_THAT(ce.out, Catch::Contains("no Eyeglasses"));
    REQUIRE(std::stod(ce.out.substr(ce.out.find("detector=kde mean_auc=") + 22)) > 0.99);
    const auto ca = run("eval --dataset celeba --root " + at("celeba") + " --attribute Wings --out-dir " + at("ceres2"));
    REQUIRE(ca.status == 2);
    REQUIRE_THAT(ca.out, Catch::Contains("unknown attribute 'Wings'"));
    const auto cb = run("eval --dataset fashion-mnist --attribute Smiling --out-dir " + at("ceres3"));
    REQUIRE(cb.status == 2);
    REQUIRE_THAT(cb.out, Catch::Contains("--attribute applies to --dataset celeba only"));
}

TEST_CASE("oneclass run / train on CIFAR-10 and CIFAR-20 binaries (generated in the real record format)") {
    setup s;
    rng r(11);
    // class c: a bright square whose corner moves with c, colour per class; 1 label byte + 3072 pixels
    auto record = [&](std::string& b, std::vector<std::uint8_t> labels, int c) {
        for (auto l : labels) b.push_back(char(l));
        for (int ch = 0; ch < 3; ++ch)
            for (int p = 0; p < 1024; ++p) {
                const int y = p / 32, x = p % 32, o = 2 + 2 * (c % 10);
                const bool on = y >= o && y < o + 8 && x >= o && x < o + 8;
                b.push_back(char(on ? 150 + 10 * ch + int(r.below(50)) : int(r.below(40))));
            }
    };
    fs::create_directories(dir / "c10/cifar-10-batches-bin");
    for (int f = 1; f <= 6; ++f) {
        std::string b;
        for (int i = 0; i < 20; ++i) record(b, {std::uint8_t(i % 10)}, i % 10);
        write_text(f <= 5 ? "c10/cifar-10-batches-bin/data_batch_" + std::to_string(f) + ".bin"
                          : "c10/cifar-10-batches-bin/test_batch.bin",
                   b);
    }
    const auto p = run("run --dataset cifar10 --root " + at("c10") + " --classes 4 --method distaug --epochs 1 --batch 5" +
                       " --detector kde --progress none --out-dir " + at("cres"));
    INFO(p.out);
    REQUIRE(p.status == 0);
    REQUIRE_THAT(p.out, Catch::Contains("deer") && Catch::Contains("detector=kde features=f method=distaug mean_auc="));
    REQUIRE(fs::exists(dir / "cres/run-cifar10-distaug-quick.csv"));
    // examples/cifar10_one_class on the same files
    {
        FILE* ex = popen((std::string(ONECLASS_EXAMPLE_CIFAR10) + " " + at("c10") + " 4 1 2>&1").c_str(), "r");
        REQUIRE(ex != nullptr);
        std::string out;
        std::array<char, 4096> buf;
        while (std::size_t n = std::fread(buf.data(), 1, buf.size(), ex)) out.append(buf.data(), n);
        const int st = pclose(ex);
        INFO(out);
        REQUIRE((WIFEXITED(st) && WEXITSTATUS(st) == 0));
        REQUIRE_THAT(out, Catch::Contains("class 4 (deer): 10 training images, 20 test images") &&
                              Catch::Contains("distaug + kde    auc=") && Catch::Contains("raw + ocsvm      auc="));
    }
    // CIFAR-100 binaries: coarse + fine label bytes; CIFAR-20 uses the coarse one
    fs::create_directories(dir / "c100/cifar-100-binary");
    for (const char* split : {"train", "test"}) {
        std::string b;
        for (int i = 0; i < 60; ++i) record(b, {std::uint8_t(i % 20), std::uint8_t(i % 100)}, i % 20);
        write_text(std::string("c100/cifar-100-binary/") + split + ".bin", b);
    }
    const auto t = run("train --dataset cifar20 --root " + at("c100") + " --class 7 --method rotation --epochs 1 --batch 3" +
                       " --progress none --out " + at("c20.ocm"));
    INFO(t.out);
    REQUIRE(t.status == 0);
    const auto e = run("eval --dataset cifar20 --root " + at("c100") + " --model " + at("c20.ocm") + " --detector kde" +
                       " --out-dir " + at("c20res"));
    INFO(e.out);
    REQUIRE(e.status == 0);
    REQUIRE_THAT(e.out, Catch::Contains("insects") && Catch::Contains("detector=kde mean_auc="));
    const auto wrong = run("eval --dataset cifar10 --root " + at("c10") + " --model " + at("c20.ocm") + " --out-dir " +
                           at("c20res2"));
    REQUIRE(wrong.status == 2);
    REQUIRE_THAT(wrong.out, Catch::Contains("trained on cifar20"));
}

TEST_CASE("oneclass on an MVTec-layout set: run, train / eval / localize, pictures, and one-line errors with nothing partial") {
    setup s;
    const fs::path root = dir / "mvtec";
    test::make_mvtec(root, "stripes", {.train = 8, .test_good = 4, .test_defect = 4, .size = 48, .channels = 3, .seed = 4});
    const std::string common = " --dataset mvtec --root " + root.string() + " --patch 16 --image-size 48";
    const std::string quick = " --method rotation --preset quick --epochs 2 --patches 256 --progress none";

    // run: per category and detector image_auc, pixel_auc, pro; CSV + JSON; pictures and maps
    const auto r = run("run" + common + " --categories all" + quick + " --fit-patches 300 --detector kde,gde --stride 4 --heatmaps " + at("hm") +
                       " --out-dir " + at("mres") + " --textures stripes");
    INFO(r.out);
    REQUIRE(r.status == 0);
    REQUIRE_THAT(r.out, Catch::Contains("mean_textures kde"));
    std::ifstream csv(dir / "mres/run-mvtec-rotation-quick.csv");
    std::string header, line;
    std::getline(csv, header);
    REQUIRE(header.rfind("category,detector,image_auc,pixel_auc,pro", 0) == 0);
    std::size_t rows = 0;
    while (std::getline(csv, line)) {
        const auto f = parse_csv(line).front().fields;
        REQUIRE(f[0] == "stripes");
        CHECK(std::stod(f[2]) >= 0.9);  // image AUROC: the squares are obvious
        CHECK(std::stod(f[3]) >= 0.85); // pixel AUROC
        CHECK(std::stod(f[4]) >= 0.5);  // PRO
        ++rows;
    }
    REQUIRE(rows == 2);
    const auto js = nlohmann::json::parse(std::ifstream(dir / "mres/run-mvtec-rotation-quick.json"));
    REQUIRE(js["means"]["gde"]["all"]["pixel_auc"].get<double>() >= 0.85);
    for (const char* d : {"kde", "gde"}) {
        const fs::path h = dir / "hm/stripes" / d;
        REQUIRE(fs::exists(h / "grid.png"));
        REQUIRE(fs::exists(h / "square_000.png"));
        REQUIRE(fs::exists(h / "good_003.png"));
        const image_u8 panel = load_image(h / "square_000.png");
        CHECK((panel.height == 48 && panel.width == 3 * 48 + 2 * 4));
        // maps.npy: 8 x 48 x 48 float32
        const std::string npy = read_file_bytes(h / "maps.npy", "test");
        REQUIRE_THAT(npy, Catch::Contains("'shape': (8, 48, 48)") && Catch::Contains("<f4"));
        const std::size_t header = 10 + std::size_t(std::uint8_t(npy[8])) + 256 * std::size_t(std::uint8_t(npy[9]));
        REQUIRE(npy.size() == header + 8 * 48 * 48 * 4);
    }

    // train, eval with saved patch detectors, then localize a folder of plain images
    auto t = run("train" + common + " --category stripes" + quick + " --out " + at("patch.ocm"));
    INFO(t.out);
    REQUIRE(t.status == 0);
    auto e = run("eval --dataset mvtec --root " + root.string() + " --category stripes --model " + at("patch.ocm") +
                 " --detector gde --save-detectors " + at("dets") + " --save-models " + at("models") + " --out-dir " + at("meval") +
                 " --fit-patches 300");
    INFO(e.out);
    REQUIRE(e.status == 0);
    REQUIRE(fs::exists(dir / "dets/stripes-gde.ocm"));
    fs::create_directories(dir / "mine");
    fs::copy_file(root / "stripes/test/square/000.png", dir / "mine/bad.png");
    fs::copy_file(root / "stripes/test/good/000.png", dir / "mine/ok.png");
    auto l = run("localize --model " + at("patch.ocm") + " --detector-model " + at("dets/stripes-gde.ocm") + " --images " +
                 at("mine") + " --out " + at("maps"));
    INFO(l.out);
    REQUIRE(l.status == 0);
    REQUIRE(fs::exists(dir / "maps/bad.png"));
    const auto sc = parse_csv(read_file_bytes(dir / "maps/scores.csv", "test"));
    REQUIRE(sc.size() == 3);
    REQUIRE(sc[1].fields[0] == "bad.png");
    CHECK(std::stod(sc[1].fields[1]) > std::stod(sc[2].fields[1]));  // the defective image scores higher
    // the one-file patch model gives the same scores
    auto lb = run("localize --model " + at("models/stripes-gde.ocp") + " --images " + at("mine") + " --out " + at("maps2"));
    INFO(lb.out);
    REQUIRE(lb.status == 0);
    REQUIRE(read_file_bytes(dir / "maps2/scores.csv", "test") == read_file_bytes(dir / "maps/scores.csv", "test"));
    REQUIRE(read_file_bytes(dir / "maps2/maps.npy", "test") == read_file_bytes(dir / "maps/maps.npy", "test"));
    const auto lbad = run("localize --model " + at("models/stripes-gde.ocp") + " --detector-model " + at("dets/stripes-gde.ocm") +
                          " --images " + at("mine") + " --out " + at("maps3"));
    REQUIRE(lbad.status == 2);
    REQUIRE_THAT(lbad.out, Catch::Contains("drop --detector-model"));
    REQUIRE_FALSE(fs::exists(dir / "maps3"));
    const auto lrange = run("localize --model " + at("models/stripes-gde.ocp") + " --images " + at("mine") + " --out " + at("maps4") +
                            " --range 1,x");
    REQUIRE(lrange.status == 2);
    REQUIRE_THAT(lrange.out, Catch::Contains("--range must be LO,HI with finite LO < HI, got '1,x'"));
    REQUIRE_FALSE(fs::exists(dir / "maps4"));
    // the raw-pixel baseline
    auto raw = run("eval" + common + " --category stripes --features raw --detector knn --k 1 --normalize none --fit-patches 300 --out-dir " +
                   at("mraw"));
    INFO(raw.out);
    REQUIRE(raw.status == 0);
    REQUIRE(fs::exists(dir / "mraw/eval-mvtec-stripes-raw.csv"));

    // a grey category: replicated to RGB by default, kept single-channel with --grayscale keep
    test::make_mvtec(dir / "grey", "plain", {.train = 4, .test_good = 2, .test_defect = 2, .size = 48, .channels = 1, .seed = 5});
    for (const auto& [mode, channels] : {std::pair<std::string, std::size_t>{"replicate", 3}, {"keep", 1}}) {
        auto g = run("train --dataset mvtec --root " + at("grey") + " --category plain --patch 16 --image-size 48 --grayscale " + mode +
                     quick + " --out " + at("grey-" + mode + ".ocm"));
        INFO(g.out);
        REQUIRE(g.status == 0);
        CHECK(pipeline::representation::load(dir / ("grey-" + mode + ".ocm")).config().net.in_channels == channels);
    }

    // bad inputs: one line, exit 2, no results file
    const auto bad = [&](const std::string& args, const std::string& needle) {
        INFO("args: " << args);
        const auto b = run(args + " --out-dir " + at("never"));
        INFO("output: " << b.out);
        REQUIRE(b.status == 2);
        REQUIRE_THAT(b.out, Catch::Contains("oneclass: error:") && Catch::Contains(needle));
        REQUIRE(error_lines(b.err) == 1);
        REQUIRE_FALSE(fs::exists(dir / "never"));
    };
    bad("run" + common + " --categories stripes,bottle" + quick, "unknown category 'bottle'");
    bad("eval" + common + " --category stripes --features f", "needs --model");
    bad("run" + common + " --categories stripes --seeds 3" + quick, "--seeds does not apply to --dataset mvtec");
    bad("run" + common + " --categories stripes --channels 1" + quick, "--channels does not apply to --dataset mvtec (see --grayscale)");
    bad("run" + common + " --categories stripes" + quick + " --stride 5", "multiple of --stride");
    bad("run --dataset fashion-mnist --heatmaps x --classes 0 --preset quick", "--heatmaps applies to --dataset mvtec only");
    bad("eval --dataset mvtec --root " + root.string() + " --category stripes --model " + at("patch.ocm") + " --patch 32",
        "trained on 16 px patches");
    fs::remove(root / "stripes/ground_truth/square/002_mask.png");
    bad("run" + common + " --categories all" + quick, "missing mask");
    save_png(root / "stripes/ground_truth/square/002_mask.png", image_u8{40, 48, 1, std::vector<std::uint8_t>(40 * 48, 0)});
    bad("run" + common + " --categories all" + quick, "is 40 x 48 but its image");
    fs::create_directories(root / "empty/train/good");
    bad("eval" + common + " --category empty --features raw", "empty category");
}
