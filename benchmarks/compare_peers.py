#!/usr/bin/python3
"""Side-by-side timings of oneclass's detectors against their peers, in one run, with ratios.

Peers (Debian packages): numpy (python3-numpy), scikit-learn 1.2 (python3-sklearn), libsvm's
svm-train / svm-predict (libsvm-tools). Ours runs through the `oneclass detect` CLI, which reports
its own fit_s / score_s (file loading excluded, as the peers' in-memory timings exclude it; the
libsvm tools' times include their text parsing and are labelled so).

Usage (from the project root, after building build/tools/oneclass):
    /usr/bin/python3 benchmarks/compare_peers.py [--threads 1] [--repeat 3] [--quick]
Prints a markdown table: one row per benchmark, median seconds of each side, ours/peer ratios.
"""
import argparse, gzip, os, re, statistics, subprocess, sys, tempfile, time

ap = argparse.ArgumentParser()
ap.add_argument("--threads", type=int, default=1)
ap.add_argument("--repeat", type=int, default=3)
ap.add_argument("--cli", default="build/tools/oneclass")
ap.add_argument("--quick", action="store_true", help="skip the slow sklearn KernelDensity runs")
a = ap.parse_args()
for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[v] = str(a.threads)

import numpy as np  # noqa: E402  (after the thread settings)
from sklearn.metrics import roc_auc_score  # noqa: E402
from sklearn.mixture import GaussianMixture  # noqa: E402
from sklearn.neighbors import KernelDensity  # noqa: E402
from sklearn.preprocessing import normalize  # noqa: E402
from sklearn.svm import OneClassSVM  # noqa: E402

tmp = tempfile.mkdtemp(prefix="oneclass_bench_")
rows = []


def med(f, n=a.repeat):
    ts, out = [], None
    for _ in range(n):
        t0 = time.perf_counter()
        out = f()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts), out


def ours(det, train, test, extra=()):
    """Median fit_s / score_s of `oneclass detect`, plus its printed key=value pairs and scores."""
    fits, scores, kv = [], [], {}
    for _ in range(a.repeat):
        out = subprocess.run([a.cli, "--threads", str(a.threads), "detect", "--detector", det, "--train", train,
                              "--test", test, "--normalize", "none", "--out", os.path.join(tmp, "s.csv")] + list(extra),
                             check=True, capture_output=True, text=True).stdout
        kv = dict(re.findall(r"(\w+)=(\S+)", out))
        fits.append(float(kv["fit_s"]))
        scores.append(float(kv["score_s"]))
    s = np.loadtxt(os.path.join(tmp, "s.csv"), skiprows=1)
    return statistics.median(fits), statistics.median(scores), kv, s


def save(name, X):
    p = os.path.join(tmp, name)
    np.save(p, X.astype(np.float32))
    return p


def row(name, ours_s, peer, peer_s, note=""):
    rows.append((name, ours_s, peer, peer_s, peer_s / ours_s, note))
    print("%-44s ours %8.3fs  %-26s %8.3fs  speed-up %6.1fx %s" % (name, ours_s, peer, peer_s, peer_s / ours_s, note),
          flush=True)


rs = np.random.RandomState(0)

# ---- KDE scoring: n_train 6000, n_test 10000 --------------------------------------------------
for d in (128, 512):
    X = normalize(rs.randn(6000, d)).astype(np.float32)
    T = normalize(rs.randn(10000, d)).astype(np.float32)
    g = 10.0 / (d * X.var())
    ptr, pte = save("kde_tr.npy", X), save("kde_te.npy", T)
    _, score_s, _, s_ours = ours("kde", ptr, pte, ["--gamma", "%.9g" % g])

    def numpy_kde():  # float32 GEMM-based KDE, the same formula and the same stable logsumexp
        xn, tn = (X * X).sum(1), (T * T).sum(1)
        out = np.empty(len(T), np.float32)
        for lo in range(0, len(T), 1000):
            d2 = np.maximum(tn[lo:lo + 1000, None] + xn[None, :] - 2 * T[lo:lo + 1000] @ X.T, 0)
            m = d2.min(1)
            out[lo:lo + 1000] = m - np.log(np.exp(-g * (d2 - m[:, None])).sum(1)) / g
        return out

    t_np, s_np = med(numpy_kde)
    row("KDE score 10000 x 6000, d=%d" % d, score_s, "numpy float32 GEMM", t_np,
        "(max |diff| %.1e)" % np.abs(s_np - s_ours).max())
    if not a.quick:
        kd = KernelDensity(kernel="gaussian", bandwidth=1 / np.sqrt(2 * g)).fit(X)
        t_sk, s_sk = med(lambda: kd.score_samples(T), 1)
        row("KDE score 10000 x 6000, d=%d" % d, score_s, "sklearn KernelDensity", t_sk,
            "(same ordering up to float rounding: max rank difference %d of 10000)" % np.abs(np.argsort(np.argsort(-s_sk)) - np.argsort(np.argsort(s_ours))).max())

# ---- OC-SVM fit / score -----------------------------------------------------------------------
def fmnist_class0():
    root = "/usr/share/datasets/fashion-mnist"
    def idx(p):
        b = gzip.open(os.path.join(root, p)).read()
        nd = b[3]
        return np.frombuffer(b, np.uint8, offset=4 + 4 * nd).reshape([int.from_bytes(b[4 + 4 * k:8 + 4 * k], "big") for k in range(nd)])
    xtr = idx("train-images-idx3-ubyte.gz").reshape(60000, -1) / 255.0
    ytr = idx("train-labels-idx1-ubyte.gz")
    xte = idx("t10k-images-idx3-ubyte.gz").reshape(10000, -1) / 255.0
    yte = idx("t10k-labels-idx1-ubyte.gz")
    return normalize(xtr[ytr == 0]), normalize(xte), (yte != 0).astype(int)


def write_libsvm(path, X):
    with open(path, "w") as f:
        for r in X:
            nz = np.nonzero(r)[0]
            f.write("1 " + " ".join("%d:%.8g" % (j + 1, r[j]) for j in nz) + "\n")


cases = []
if os.path.exists("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"):
    cases.append(("Fashion-MNIST class 0 raw, 6000 x 784",) + fmnist_class0())
Xr = normalize(rs.randn(6000, 128))
cases.append(("random L2-normalised, 6000 x 128", Xr, normalize(rs.randn(10000, 128)), None))

for name, X, T, y in cases:
    X, T = X.astype(np.float32).astype(np.float64), T.astype(np.float32).astype(np.float64)
    g = 10.0 / (X.shape[1] * X.var())
    ptr, pte = save("svm_tr.npy", X), save("svm_te.npy", T)
    fit_s, score_s, kv, s_ours = ours("ocsvm", ptr, pte, ["--gamma", "%.9g" % g, "--nu", "0.5"])
    sk = OneClassSVM(nu=0.5, gamma=g, cache_size=200)
    t_skfit, _ = med(lambda: sk.fit(X), 1)
    t_skscore, s_sk = med(lambda: -sk.decision_function(T), 1)
    ftr, fte, fmodel, fout = (os.path.join(tmp, f) for f in ("tr.txt", "te.txt", "model.txt", "pred.txt"))
    write_libsvm(ftr, X)
    write_libsvm(fte, T)
    t_lfit, _ = med(lambda: subprocess.run(["svm-train", "-s", "2", "-n", "0.5", "-g", "%.9g" % g, "-m", "200", "-q",
                                             ftr, fmodel], check=True), 1)
    t_lscore, _ = med(lambda: subprocess.run(["svm-predict", fte, fmodel, fout], check=True, capture_output=True), 1)
    lrho = float(re.search(r"^rho (\S+)", open(fmodel).read(), re.M).group(1))
    sol = "rho ours %.6g / sklearn %.6g / libsvm %.6g; nSV %s / %d" % (float(kv["rho"]), sk.offset_[0], lrho,
                                                                       kv["n_support"], len(sk.support_))
    if y is not None:
        sol += "; AUC ours %.5f / sklearn %.5f" % (roc_auc_score(y, s_ours), roc_auc_score(y, s_sk))
    print("   solution:", sol)
    best_fit = min(t_skfit, t_lfit)
    row("OC-SVM fit, " + name, fit_s, "sklearn OneClassSVM", t_skfit, sol)
    row("OC-SVM fit, " + name, fit_s, "libsvm svm-train (incl. parse)", t_lfit)
    row("OC-SVM score 10000, " + name, score_s, "sklearn decision_function", t_skscore)
    row("OC-SVM score 10000, " + name, score_s, "libsvm svm-predict (incl. parse)", t_lscore)

# ---- GDE fit + score 6000 x 784 ---------------------------------------------------------------
X = cases[0][1] if len(cases) == 2 else normalize(rs.rand(6000, 784))
T = cases[0][2] if len(cases) == 2 else normalize(rs.rand(10000, 784))
ptr, pte = save("gde_tr.npy", X), save("gde_te.npy", T)
fit_s, score_s, _, s_ours = ours("gde", ptr, pte)
X64, T64 = X.astype(np.float32).astype(np.float64), T.astype(np.float32).astype(np.float64)
t_gm, _ = med(lambda: -GaussianMixture(1, covariance_type="full", reg_covar=1e-6).fit(X64).score_samples(T64))
row("GDE fit 6000 x 784 + score 10000", fit_s + score_s, "sklearn GaussianMixture(1)", t_gm)

print("\n| benchmark | ours (s) | peer | peer (s) | speed-up | note |\n|---|---|---|---|---|---|")
for r in rows:
    print("| %s | %.3f | %s | %.3f | %.1fx | %s |" % r)
