#!/usr/bin/python3
"""What the instruction set a consumer compiles for, and OpenBLAS's kernel choice, cost.

A header-only library runs with the consumer's -march; Debian's OpenBLAS picks its kernels at run
time and falls back to generic "Prescott" ones on CPUs it does not know. This script times the
same work under each combination, alternating them round by round (the host is noisy; medians
of the per-round ratios against the reference configuration are what to read):

  KDE score        10000 x 6000, d = 128, L2-normalised (the distance GEMM)
  OC-SVM fit       6000 x 128, nu 0.5 (kernel rows by GEMM, our SMO)
  OC-SVM score     10000 rows against its support vectors
  train step       ResNet-10 x0.25 on 32x32x1, batch 32, head 2 x 64 -> 32 (the `quick` preset), 1 thread

Configurations: BUILD:CORE pairs, where BUILD is a build folder (its tools/oneclass and
tools/oneclass-bench) and CORE an OPENBLAS_CORETYPE ("auto" leaves OpenBLAS's own choice).
Usage (from the project root):
    /usr/bin/python3 benchmarks/isa_and_blas.py --rounds 5 build:auto build:Prescott build-x86-64:auto
The first configuration is the reference. Prints a markdown table.
"""
import argparse, os, re, statistics, subprocess, tempfile

ap = argparse.ArgumentParser()
ap.add_argument("configs", nargs="+", help="BUILD:CORE, e.g. build:auto build:Prescott build-x86-64:auto")
ap.add_argument("--rounds", type=int, default=5)
a = ap.parse_args()
os.environ["OPENBLAS_NUM_THREADS"] = "1"

import numpy as np  # noqa: E402

tmp = tempfile.mkdtemp(prefix="oneclass_isa_")
rng = np.random.default_rng(0)


def unit_rows(n, d):
    x = rng.standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


np.save(os.path.join(tmp, "train.npy"), unit_rows(6000, 128))
np.save(os.path.join(tmp, "test.npy"), unit_rows(10000, 128))


def env_of(core):
    e = dict(os.environ)
    e.pop("OPENBLAS_CORETYPE", None)
    if core != "auto":
        e["OPENBLAS_CORETYPE"] = core
    return e


def detect(build, core, det):
    out = subprocess.run([os.path.join(build, "tools", "oneclass"), "--threads", "1", "detect", "--detector", det,
                          "--train", os.path.join(tmp, "train.npy"), "--test", os.path.join(tmp, "test.npy"),
                          "--normalize", "none"], check=True, capture_output=True, text=True, env=env_of(core)).stdout
    kv = dict(re.findall(r"(\w+)=(\S+)", out))
    return float(kv["fit_s"]), float(kv["score_s"])


def train_step(build, core):
    out = subprocess.run([os.path.join(build, "tools", "oneclass-bench"), "train-step", "--arch", "resnet10", "--width",
                          "0.25", "--input", "32x32x1", "--batch", "32", "--head-depth", "2", "--head-width", "64",
                          "--head-out", "32", "--steps", "8", "--threads", "1"],
                         check=True, capture_output=True, text=True, env=env_of(core)).stdout
    return float(re.search(r"images_per_s=(\S+)", out).group(1))


def kernels(build, core):
    out = subprocess.run([os.path.join(build, "tools", "oneclass"), "--version"], capture_output=True, text=True,
                         env=env_of(core)).stdout
    isa = re.search(r"compiled for: (.*)", out).group(1)
    k = re.search(r"BLAS kernels: (.*)", out)
    return isa, k.group(1) if k else "?"


cfgs = [c.split(":") for c in a.configs]
times = {i: {"kde": [], "svm_fit": [], "svm_score": [], "step": []} for i in range(len(cfgs))}
for r in range(a.rounds):
    order = list(range(len(cfgs))) if r % 2 == 0 else list(reversed(range(len(cfgs))))
    for i in order:
        b, c = cfgs[i]
        times[i]["kde"].append(detect(b, c, "kde")[1])
        f, s = detect(b, c, "ocsvm")
        times[i]["svm_fit"].append(f)
        times[i]["svm_score"].append(s)
        times[i]["step"].append(1.0 / train_step(b, c))  # seconds per image

print("| configuration | compiled for | BLAS kernels | KDE score | OC-SVM fit | OC-SVM score | train step |")
print("|---|---|---|---|---|---|---|")
for i, (b, c) in enumerate(cfgs):
    isa, k = kernels(b, c)
    cells = []
    for key in ("kde", "svm_fit", "svm_score", "step"):
        med = statistics.median(times[i][key])
        ratios = [x / y for x, y in zip(times[i][key], times[0][key])]
        unit = "%.3f s" % med if key != "step" else "%.0f img/s" % (1.0 / med)
        cells.append(unit if i == 0 else "%s (%.2fx time, %.2f-%.2f)" % (unit, statistics.median(ratios), min(ratios), max(ratios)))
    print("| %s:%s | %s | %s | %s |" % (b, c, isa, k, " | ".join(cells)))
print("\nrounds: %d; later rows: median time ratio to the first row per round, and its range" % a.rounds)
