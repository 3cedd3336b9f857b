#!/usr/bin/python3
"""Float32 tolerances of tests/test_torch_golden.cpp, calibrated across summation orders.

The float test checks three stages, each from that stage's own golden (float64) inputs, so that no
check inherits an earlier stage's error:
  train - forward in train mode, loss and backward from the initial weights (weights.ocw) and input:
          f_train, z_train, loss, grad.*, after_forward.* (batch-norm running statistics)
  step  - one SGD step from the initial weights and the golden gradients: after_step.*
  eval  - the eval-mode forward from the golden post-step weights and running statistics: z_eval
For every checked array this script measures PyTorch's own float32 error,
    e = max |float32 - float64 golden| / max |float64 golden|,
under every summation order it can make PyTorch take: 1 and N threads, oneDNN on and off (two
different convolution algorithms), contiguous and channels-last tensors, and each of those again
with the stage's inputs perturbed by one float32 rounding (relative 2^-24, several seeds). The
largest e per array goes to tests/data/torch/float_tolerance.txt; the test allows a stated safety
factor times it. Our own error under every OpenBLAS core type and instruction-set build is then
measured against that tolerance (docs/benchmarks.md, "Golden test tolerance").

Usage: /usr/bin/python3 scripts/calibrate_torch_golden.py [--seeds K]
"""
import argparse, itertools, os, struct, sys, zlib
import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_resnet import Head, ResNet

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DIR = os.path.join(ROOT, "tests", "data", "torch")


def read_frame(path):
    """Arrays of a oneclass framed file written by make_torch_golden.py's frame()."""
    b = open(path, "rb").read()
    assert b[:8] == b"ONECLASS" and struct.unpack("<I", b[-4:])[0] == zlib.crc32(b[:-4]) & 0xFFFFFFFF
    pos = 12
    (klen,) = struct.unpack_from("<Q", b, pos); pos += 8 + klen + 8
    width = b[pos]; pos += 1
    (n,) = struct.unpack_from("<Q", b, pos); pos += 8
    out = {}
    for _ in range(n):
        (ln,) = struct.unpack_from("<Q", b, pos); pos += 8
        name = b[pos:pos + ln].decode(); pos += ln
        (nd,) = struct.unpack_from("<Q", b, pos); pos += 8
        shape = struct.unpack_from("<%dQ" % nd, b, pos); pos += 8 * nd
        (nv,) = struct.unpack_from("<Q", b, pos); pos += 8
        vals = np.frombuffer(b, dtype="<f8" if width == 8 else "<f4", count=nv, offset=pos); pos += nv * width
        out[name] = vals.reshape(shape).astype(np.float64)
    return out


W = read_frame(os.path.join(DIR, "weights.ocw"))
G = read_frame(os.path.join(DIR, "golden.ocg"))
labels = torch.tensor(G["labels"].astype(np.int64))


def perturb(a, gen):
    """a in float32, each entry moved by up to one float32 rounding (none when gen is None)."""
    t = torch.tensor(a, dtype=torch.float32)
    if gen is None:
        return t
    r = torch.rand(t.shape, generator=gen, dtype=torch.float64) * 2 - 1
    return (torch.tensor(a) * (1 + r * 2.0**-24)).float()


def model(state, gen, channels_last):
    f, g = ResNet([8, 16, 32, 64], [2, 2, 2, 2]).float(), Head(64, [32, 32], 16).float()
    for prefix, m in (("f.", f), ("g.", g)):
        sd = {k[len(prefix):]: perturb(v, gen).reshape(m.state_dict()[k[len(prefix):]].shape)
              for k, v in state.items() if k.startswith(prefix)}
        m.load_state_dict(sd, strict=False)
    if channels_last:
        f = f.to(memory_format=torch.channels_last)
    return f, g


def input_x(gen, channels_last):
    x = perturb(G["input"], gen)
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x


def params(f, g):
    return list(f.named_parameters(prefix="f")) + list(g.named_parameters(prefix="g"))


def stage_train(gen, cl):
    f, g = model(W, gen, cl)
    f.train(), g.train()
    feat = f(input_x(gen, cl))
    z = g(feat)
    loss = F.cross_entropy(z, labels)
    loss.backward()
    out = {"f_train": feat, "z_train": z, "loss": loss.reshape(1)}
    out.update({"grad." + k: p.grad for k, p in params(f, g)})
    for prefix, m in (("f.", f), ("g.", g)):
        out.update({"after_forward." + prefix + k: v for k, v in m.state_dict().items() if "running" in k})
    return out


def stage_step(gen, cl):
    f, g = model(W, gen, cl)
    ps = params(f, g)
    for k, p in ps:
        p.grad = perturb(G["grad." + k], gen).reshape(p.shape)
    torch.optim.SGD([p for _, p in ps], lr=0.1, momentum=0.9, weight_decay=5e-4).step()
    return {"after_step." + k: p for k, p in ps}


def stage_eval(gen, cl):
    state = {k[len("after_step."):]: v for k, v in G.items() if k.startswith("after_step.")}
    state.update({k[len("after_forward."):]: v for k, v in G.items() if k.startswith("after_forward.")})
    f, g = model(state, gen, cl)
    f.eval(), g.eval()
    with torch.no_grad():
        return {"z_eval": g(f(input_x(gen, cl)))}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=4, help="perturbed-input runs per summation order")
    args = ap.parse_args()
    worst = {}
    runs = 0
    for threads, mkldnn, cl in itertools.product([1, max(2, os.cpu_count() or 2)], [True, False], [False, True]):
        torch.set_num_threads(threads)
        torch.backends.mkldnn.enabled = mkldnn
        for seed in [None] + list(range(args.seeds)):
            gen = None if seed is None else torch.Generator().manual_seed(seed)
            for stage in (stage_train, stage_step, stage_eval):
                for k, v in stage(gen, cl).items():
                    want = G[k]
                    got = v.detach().double().contiguous().numpy().reshape(want.shape)
                    e = np.abs(got - want).max() / max(1e-300, np.abs(want).max())
                    worst[k] = max(worst.get(k, 0.0), e)
            runs += 1
    missing = sorted(k for k in G if k not in worst and k not in ("input", "labels"))
    assert not missing, missing
    path = os.path.join(DIR, "float_tolerance.txt")
    with open(path + ".tmp", "w") as out:
        out.write("# PyTorch %s float32 error per golden array, max over %d runs (threads, oneDNN, memory format,\n"
                  "# perturbed inputs): max|f32 - f64| / max|f64|. Written by scripts/calibrate_torch_golden.py.\n"
                  % (torch.__version__, runs))
        for k in sorted(worst):
            out.write("%s %.6e\n" % (k, worst[k]))
    os.replace(path + ".tmp", path)
    for e, k in sorted(((e, k) for k, e in worst.items()), reverse=True)[:8]:
        print("%.3e %s" % (e, k))
    print("runs", runs, "arrays", len(worst), "->", path)


if __name__ == "__main__":
    main()
