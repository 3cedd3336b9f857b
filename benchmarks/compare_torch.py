#!/usr/bin/python3
"""oneclass-bench against PyTorch (Debian python3-torch 1.13) in one run: same architecture, input,
batch and thread count; prints images/s of both, peak RSS of both, and our/PyTorch ratios.

Usage (from the project root, after building build-test/tools/oneclass-bench):
    /usr/bin/python3 benchmarks/compare_torch.py --arch resnet18 --input 32x32x3 --batch 32 --threads 1 --steps 5
    /usr/bin/python3 benchmarks/compare_torch.py --arch resnet10 --width 0.25 --input 32x32x1 ...
PyTorch runs in a child process per mode so that each peak RSS is its own. --rounds R runs both
sides R times per mode, alternating which goes first, and reports each side's median rate and the
median (and range) of the per-round ratios: on a host whose speed drifts, neighbouring runs of
the two see the same phase, so the ratio of a round is steadier than either rate.

--concurrent S (one thread only) runs the two sides at the same time instead, each pinned to one
of two vCPUs, over the same S-second window (both sleep until a common start time, then step
until S seconds of timed steps have run), and swaps the vCPUs every round: a host that
time-slices the VM slows both alike, and neither keeps the faster vCPU. Each side's RSS is its
own process's peak as before.
"""
import argparse, os, re, resource, statistics, subprocess, sys, time

ap = argparse.ArgumentParser()
ap.add_argument("--arch", default="resnet18")
ap.add_argument("--input", default="32x32x3")
ap.add_argument("--batch", type=int, default=32)
ap.add_argument("--threads", type=int, default=1)
ap.add_argument("--steps", type=int, default=5)
ap.add_argument("--width", type=float, default=1.0)
ap.add_argument("--head-depth", type=int, default=8)
ap.add_argument("--head-width", type=int, default=512)
ap.add_argument("--head-out", type=int, default=128)
ap.add_argument("--bench", default="build-test/tools/oneclass-bench")
ap.add_argument("--rounds", type=int, default=1)
ap.add_argument("--modes", default="train-step,infer")
ap.add_argument("--torch-child", default="")
ap.add_argument("--concurrent", type=float, default=0.0, metavar="SECONDS")
ap.add_argument("--seconds", type=float, default=0.0, help=argparse.SUPPRESS)
ap.add_argument("--start-at", type=float, default=0.0, help=argparse.SUPPRESS)
a = ap.parse_args()
H, W, C = (int(v) for v in a.input.split("x"))
blocks = {"resnet10": [1, 1, 1, 1], "resnet18": [2, 2, 2, 2], "resnet34": [3, 4, 6, 3]}[a.arch]
widths = [max(1, round(b * a.width)) for b in (64, 128, 256, 512)]

if a.torch_child:
    os.environ["OMP_NUM_THREADS"] = str(a.threads)
    import torch
    import torch.nn.functional as F
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
    from torch_resnet import Head, ResNet
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    f = ResNet(widths, blocks, C)
    g = Head(widths[-1], [a.head_width] * a.head_depth, a.head_out)
    opt = torch.optim.SGD(list(f.parameters()) + list(g.parameters()), lr=0.01, momentum=0.9, weight_decay=3e-4)
    x = torch.randn(a.batch, C, H, W)
    y = torch.randint(0, a.head_out, (a.batch,))
    secs = []
    if a.start_at > 0:
        time.sleep(max(0.0, a.start_at - time.time()))
    s, timed = 0, 0.0
    while s <= a.steps or timed < a.seconds:
        t0 = time.perf_counter()
        if a.torch_child == "train-step":
            f.train(), g.train()
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(g(f(x)), y).backward()
            opt.step()
        else:
            f.eval()
            with torch.no_grad():
                f(x)
        if s > 0:
            secs.append(time.perf_counter() - t0)
            timed += secs[-1]
        s += 1
    print("images_per_s=%.3f" % (a.batch / statistics.median(secs)))
    print("peak_rss_mb=%.1f" % (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))
    sys.exit(0)


def parse(out):
    return {k: float(v) for k, v in re.findall(r"(images_per_s|peak_rss_mb)=(\S+)", out)}


def run(cmd):
    return parse(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)


def run_pinned(cmds_cpus):
    """Start every command at once, each pinned to its vCPU; wait for all; parse each output."""
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True,
                              preexec_fn=(lambda c=cpu: os.sched_setaffinity(0, {c}))) for cmd, cpu in cmds_cpus]
    outs = [p.communicate()[0] for p in procs]
    for p, (cmd, _) in zip(procs, cmds_cpus):
        if p.returncode:
            raise subprocess.CalledProcessError(p.returncode, cmd)
    return [parse(o) for o in outs]



common = ["--arch", a.arch, "--input", a.input, "--batch", str(a.batch), "--threads", str(a.threads),
          "--steps", str(a.steps), "--width", str(a.width), "--head-depth", str(a.head_depth),
          "--head-width", str(a.head_width), "--head-out", str(a.head_out)]
if a.concurrent:
    cpus = sorted(os.sched_getaffinity(0))
    if a.threads != 1 or len(cpus) < 2:
        sys.exit("compare_torch.py: --concurrent needs --threads 1 and two CPUs (have %d)" % len(cpus))
print("| mode | arch | input | batch | threads | oneclass img/s | PyTorch img/s | speed ratio | oneclass RSS MB | PyTorch RSS MB | RSS ratio |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for mode in a.modes.split(","):
    ours, peer = [], []
    for r in range(max(1, a.rounds)):
        if a.concurrent:
            window = ["--seconds", str(a.concurrent), "--start-at", "%.3f" % (time.time() + 3.0)]
            o, p = run_pinned([([a.bench, mode] + common + window, cpus[r % 2]),
                               ([sys.executable, os.path.abspath(__file__), "--torch-child", mode] + common + window,
                                cpus[1 - r % 2])])
            ours.append(o)
            peer.append(p)
            continue
        sides = [lambda: ours.append(run([a.bench, mode] + common)),
                 lambda: peer.append(run([sys.executable, os.path.abspath(__file__), "--torch-child", mode] + common))]
        for side in (sides if r % 2 == 0 else sides[::-1]):
            side()
    med = lambda runs, k: statistics.median(x[k] for x in runs)
    ratios = [o["images_per_s"] / p["images_per_s"] for o, p in zip(ours, peer)]
    if len(ratios) > 1:  # in round order, to stderr: the table stays one row per mode
        print("%s ratios by round: %s" % (mode, " ".join("%.2f" % r for r in ratios)), file=sys.stderr)
    ratios.sort()
    spread = "" if len(ratios) == 1 else " (median of %d rounds, %.2f-%.2f)" % (len(ratios), ratios[0], ratios[-1])
    if a.concurrent:
        spread += " concurrent %gs" % a.concurrent
    print("| %s | %s x%g | %s | %d | %d | %.2f | %.2f | %.2fx%s | %.0f | %.0f | %.2f |" % (
        mode, a.arch, a.width, a.input, a.batch, a.threads, med(ours, "images_per_s"), med(peer, "images_per_s"),
        statistics.median(ratios), spread, med(ours, "peak_rss_mb"), med(peer, "peak_rss_mb"),
        med(ours, "peak_rss_mb") / med(peer, "peak_rss_mb")), flush=True)
