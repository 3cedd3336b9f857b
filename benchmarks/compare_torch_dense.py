#!/usr/bin/python3
"""Dense patch scoring, oneclass against PyTorch (Debian python3-torch 1.13) in one run: every
P x P patch of --images random images at --stride, through the same encoder (scripts/torch_resnet.py,
the architecture of the oneclass ResNet), in batches of --batch patches (PyTorch: --torch-batch,
its fastest differs: 128 on the hosts measured), L2-normalised. PyTorch
unfolds the images with Tensor.unfold, as a Python user of the paper's method would. Prints
patches/s and seconds per image of both and the ratio, medians over --rounds rounds that alternate
which side goes first.

Usage (from the project root, after building build/tools/oneclass-bench):
    /usr/bin/python3 benchmarks/compare_torch_dense.py --arch resnet10 --width 0.25 --input 256x256x3 \\
        --patch 32 --stride 4 --images 2 --batch 512 --threads 2 --rounds 3
"""
import argparse, os, re, statistics, subprocess, sys, time

ap = argparse.ArgumentParser()
ap.add_argument("--arch", default="resnet10")
ap.add_argument("--width", type=float, default=0.25)
ap.add_argument("--input", default="256x256x3")
ap.add_argument("--patch", type=int, default=32)
ap.add_argument("--stride", type=int, default=4)
ap.add_argument("--images", type=int, default=2)
ap.add_argument("--batch", type=int, default=512)
ap.add_argument("--torch-batch", type=int, default=0, help="PyTorch's batch (default --batch): its fastest differs")
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--steps", type=int, default=2)
ap.add_argument("--rounds", type=int, default=3)
ap.add_argument("--bench", default="build/tools/oneclass-bench")
ap.add_argument("--torch-child", action="store_true", help=argparse.SUPPRESS)
a = ap.parse_args()
torch_batch = a.torch_batch or a.batch
H, W, C = (int(v) for v in a.input.split("x"))
blocks = {"resnet10": [1, 1, 1, 1], "resnet18": [2, 2, 2, 2], "resnet34": [3, 4, 6, 3]}[a.arch]
widths = [max(1, round(b * a.width)) for b in (64, 128, 256, 512)]

if a.torch_child:
    os.environ["OMP_NUM_THREADS"] = str(a.threads)
    import torch
    import torch.nn.functional as F
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
    from torch_resnet import ResNet
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    f = ResNet(widths, blocks, C).eval()
    x = torch.rand(a.images, C, H, W)
    secs, n = [], 0
    for s in range(a.steps + 1):
        t0 = time.perf_counter()
        with torch.no_grad():
            p = x.unfold(2, a.patch, a.stride).unfold(3, a.patch, a.stride)  # N C R Q P P
            p = p.permute(0, 2, 3, 1, 4, 5).reshape(-1, C, a.patch, a.patch)
            feats = [F.normalize(f(p[i:i + torch_batch].contiguous()), dim=1) for i in range(0, p.shape[0], torch_batch)]
            n = sum(t.shape[0] for t in feats)
        if s > 0:
            secs.append(time.perf_counter() - t0)
    med = statistics.median(secs)
    print("patches_per_s=%.3f\nseconds_per_image=%.4f" % (n / med, med / a.images))
    sys.exit(0)


def parse(out):
    return {k: float(v) for k, v in re.findall(r"(patches_per_s|seconds_per_image)=(\S+)", out)}


common = ["--arch", a.arch, "--width", str(a.width), "--input", a.input, "--patch", str(a.patch), "--stride", str(a.stride),
          "--images", str(a.images), "--batch", str(a.batch), "--threads", str(a.threads), "--steps", str(a.steps)]
ours, peer = [], []
for r in range(a.rounds):
    sides = [lambda: ours.append(parse(subprocess.run([a.bench, "dense"] + common + ["--head-depth", "2", "--head-width", "64",
                                                                                    "--head-out", "32"],
                                                      check=True, capture_output=True, text=True).stdout)),
             lambda: peer.append(parse(subprocess.run([sys.executable, os.path.abspath(__file__), "--torch-child"] + common +
                                                      ["--torch-batch", str(torch_batch)],
                                                      check=True, capture_output=True, text=True).stdout))]
    for side in (sides if r % 2 == 0 else sides[::-1]):
        side()
ratios = sorted(o["patches_per_s"] / p["patches_per_s"] for o, p in zip(ours, peer))
med = lambda runs, k: statistics.median(x[k] for x in runs)
print("| arch | image | P / S | batch (ours / PyTorch) | threads | oneclass patches/s | PyTorch patches/s | ratio (median, range) | oneclass s/image | PyTorch s/image |")
print("|---|---|---|---|---|---|---|---|---|---|")
print("| %s x%g | %s | %d / %d | %d / %d | %d | %.0f | %.0f | %.2fx (%.2f-%.2f) | %.3f | %.3f |" % (
    a.arch, a.width, a.input, a.patch, a.stride, a.batch, torch_batch, a.threads, med(ours, "patches_per_s"), med(peer, "patches_per_s"),
    statistics.median(ratios), ratios[0], ratios[-1], med(ours, "seconds_per_image"), med(peer, "seconds_per_image")))
