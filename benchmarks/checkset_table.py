#!/usr/bin/python3
"""The tables of docs/results.md from the CSV files benchmarks/checkset.sh leaves under OUT/results:
per category and column (raw-pixel 1-NN, then each method with KDE and GDE) "image / pixel / PRO",
the means over textures, objects and all, and each method's training and scoring seconds.

Usage: /usr/bin/python3 benchmarks/checkset_table.py OUT/results [--textures brick,grass,gravel]
"""
import argparse, csv, glob, os, statistics

ap = argparse.ArgumentParser()
ap.add_argument("results")
ap.add_argument("--textures", default="brick,grass,gravel")
a = ap.parse_args()
textures = a.textures.split(",")

rows = {}  # (column, category) -> row
methods = []
for path in sorted(glob.glob(os.path.join(a.results, "**", "*.csv"), recursive=True)):
    name = os.path.basename(path)  # eval-mvtec-<category>-raw.csv, run-mvtec-<method>-<preset>.csv, maybe behind a prefix
    if "eval-mvtec-" in name and name.endswith("-raw.csv"):
        method = "raw"
    elif "run-mvtec-" in name:
        method = name[name.index("run-mvtec-") + len("run-mvtec-"):].rsplit("-", 1)[0]
    else:
        continue
    for r in csv.DictReader(open(path)):
        col = "raw 1-NN" if method == "raw" else "%s %s" % (method, r["detector"].upper())
        rows[(col, r["category"])] = r
        if col not in methods:
            methods.append(col)

order = ["raw 1-NN"] + sorted(c for c in methods if c != "raw 1-NN")
cats = sorted({c for _, c in rows}, key=lambda c: (c not in textures, c))
f = lambda v: "-" if v in ("", "null", None) else "%.3f" % float(v)
print("| category | " + " | ".join(order) + " |")
print("|---|" + "---|" * len(order))
for c in cats:
    cells = []
    for col in order:
        r = rows.get((col, c))
        cells.append("-" if r is None else "%s / %s / %s" % (f(r["image_auc"]), f(r["pixel_auc"]), f(r["pro"])))
    print("| %s%s | %s |" % (c, " (texture)" if c in textures else "", " | ".join(cells)))
for group, members in (("mean, textures", [c for c in cats if c in textures]), ("mean, objects", [c for c in cats if c not in textures]),
                       ("mean, all", cats)):
    cells = []
    for col in order:
        got = [rows[(col, c)] for c in members if (col, c) in rows]
        if len(got) < len(members) or not got:
            cells.append("- (%d of %d)" % (len(got), len(members)) if got else "-")
            continue
        m = [statistics.mean(float(r[k]) for r in got) for k in ("image_auc", "pixel_auc", "pro")]
        cells.append("**%.3f / %.3f / %.3f**" % tuple(m))
    print("| %s | %s |" % (group, " | ".join(cells)))
print()
print("| method | train s per category (median, range) | score s per category, 50 images (median) |")
print("|---|---|---|")
for col in order:
    got = [rows[(col, c)] for c in cats if (col, c) in rows]
    tr = sorted(float(r["train_s"]) for r in got if r.get("train_s") not in (None, "", "null"))
    sc = sorted(float(r["score_s"]) for r in got)
    print("| %s | %s | %.1f |" % (col, "%.0f (%.0f-%.0f)" % (statistics.median(tr), tr[0], tr[-1]) if tr else "-", statistics.median(sc)))
