#!/usr/bin/python3
"""scikit-learn reference for `oneclass eval --dataset fashion-mnist --features raw`.

Same protocol as the C++ tool: pixels / 255, rows L2-normalised (sklearn.preprocessing.normalize),
gamma = 10 / (d * Var(train)), one-vs-rest per class (train on class c of the train split, test on
the whole test split, label 1 = other class). Detectors:
  ocsvm: sklearn.svm.OneClassSVM(nu=0.5, gamma), score = -decision_function
  kde:   sklearn.neighbors.KernelDensity(gaussian, bandwidth = 1/sqrt(2 gamma)), score = -score_samples
         (a monotone transform of oneclass's -(1/gamma) log sum exp(-gamma d^2): same AUC)
  gde:   sklearn.mixture.GaussianMixture(1, 'full', reg_covar=1e-6), score = -score_samples
Writes CSV rows dataset,detector,class,auc,fit_s,score_s to stdout (and --out).

Usage: /usr/bin/python3 scripts/sklearn_reference_eval.py [--classes 0,1] [--detectors ocsvm,kde,gde] [--out F]
"""
import argparse, gzip, os, sys, time
import numpy as np
from sklearn.svm import OneClassSVM
from sklearn.neighbors import KernelDensity
from sklearn.mixture import GaussianMixture
from sklearn.preprocessing import normalize
from sklearn.metrics import roc_auc_score

ROOT = "/usr/share/datasets/fashion-mnist"


def idx(path):
    with gzip.open(path, "rb") as f:
        b = f.read()
    nd = b[3]
    dims = [int.from_bytes(b[4 + 4 * k: 8 + 4 * k], "big") for k in range(nd)]
    return np.frombuffer(b, np.uint8, offset=4 + 4 * nd).reshape(dims)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--classes", default="all")
    ap.add_argument("--detectors", default="ocsvm,kde,gde")
    ap.add_argument("--out", default="")
    a = ap.parse_args()
    xtr = idx(os.path.join(ROOT, "train-images-idx3-ubyte.gz")).reshape(60000, -1) / 255.0
    ytr = idx(os.path.join(ROOT, "train-labels-idx1-ubyte.gz"))
    xte = idx(os.path.join(ROOT, "t10k-images-idx3-ubyte.gz")).reshape(10000, -1) / 255.0
    yte = idx(os.path.join(ROOT, "t10k-labels-idx1-ubyte.gz"))
    xtr, xte = normalize(xtr), normalize(xte)
    classes = range(10) if a.classes == "all" else [int(c) for c in a.classes.split(",")]
    rows = ["dataset,detector,class,auc,fit_s,score_s"]
    print(rows[0], flush=True)
    for c in classes:
        X = xtr[ytr == c]
        y = (yte != c).astype(int)
        gamma = 10.0 / (X.shape[1] * X.var())
        for det in a.detectors.split(","):
            t0 = time.perf_counter()
            if det == "ocsvm":
                m = OneClassSVM(nu=0.5, gamma=gamma, cache_size=200).fit(X)
                t1 = time.perf_counter()
                s = -m.decision_function(xte)
            elif det == "kde":
                m = KernelDensity(kernel="gaussian", bandwidth=1.0 / np.sqrt(2 * gamma)).fit(X)
                t1 = time.perf_counter()
                s = -m.score_samples(xte)
            elif det == "gde":
                m = GaussianMixture(1, covariance_type="full", reg_covar=1e-6).fit(X)
                t1 = time.perf_counter()
                s = -m.score_samples(xte)
            else:
                sys.exit("unknown detector " + det)
            t2 = time.perf_counter()
            row = "fashion-mnist,%s,%d,%.8f,%.3f,%.3f" % (det, c, roc_auc_score(y, s), t1 - t0, t2 - t1)
            rows.append(row)
            print(row, flush=True)
    if a.out:
        with open(a.out, "w") as f:
            f.write("\n".join(rows) + "\n")


if __name__ == "__main__":
    main()
