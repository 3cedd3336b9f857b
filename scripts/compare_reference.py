#!/usr/bin/python3
"""Compares `oneclass eval` per-class AUCs with the scikit-learn reference CSV.

    /usr/bin/python3 scripts/compare_reference.py results/eval-fashion-mnist-raw.csv \
        scripts/reference/fashion_mnist_raw_sklearn.csv [--tol 1e-3]
Exits 1 if any |AUC difference| exceeds tol.
"""
import csv, sys

ours_path, ref_path = sys.argv[1], sys.argv[2]
tol = float(sys.argv[sys.argv.index("--tol") + 1]) if "--tol" in sys.argv else 1e-3
ours = {(r["detector"], int(r["class"])): float(r["auc"]) for r in csv.DictReader(open(ours_path))}
ref = {(r["detector"], int(r["class"])): float(r["auc"]) for r in csv.DictReader(open(ref_path))}
worst = 0.0
print("| detector | class | oneclass | scikit-learn | diff |\n|---|---|---|---|---|")
for key in sorted(ref):
    if key not in ours:
        continue
    d = ours[key] - ref[key]
    worst = max(worst, abs(d))
    print("| %s | %d | %.6f | %.6f | %+.1e |" % (key[0], key[1], ours[key], ref[key], d))
for det in sorted({k[0] for k in ref}):
    o = [ours[k] for k in ref if k[0] == det and k in ours]
    r = [ref[k] for k in ref if k[0] == det and k in ours]
    if o:
        print("mean %s: oneclass %.6f, scikit-learn %.6f" % (det, sum(o) / len(o), sum(r) / len(r)))
print("max |diff| = %.2e (tolerance %.0e)" % (worst, tol))
sys.exit(0 if worst <= tol else 1)
