#!/usr/bin/python3
"""Golden values for the CNN core from PyTorch 1.13 (Debian python3-torch).

Builds a ResNet-18 with the CIFAR stem (3x3 conv stride 1, no max pool) at width 1/8
(stages 8-16-32-64, the same graph as ResNet-18 at a size whose gradients fit in the repository)
and an MLP projection head [Linear(no bias)-BN1d-ReLU] x 2 (width 32) + Linear(16), with
parameter names matching oneclass's ids. Writes, in oneclass's own framed file format:
  tests/data/torch/weights.ocw  - every parameter and BN buffer (oneclass::nn::load_weights reads it)
  tests/data/torch/golden.ocg   - input batch, labels, train-mode features f and head output z,
                                  the cross-entropy loss, all parameter gradients, the running
                                  statistics after the step, eval-mode z, and every parameter
                                  after one SGD step (lr 0.1, momentum 0.9, weight decay 5e-4).
Usage: /usr/bin/python3 scripts/make_torch_golden.py
"""
import os, struct, zlib
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from torch_resnet import Head, ResNet

torch.manual_seed(0)
torch.set_num_threads(1)
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "data", "torch")


f = ResNet([8, 16, 32, 64], [2, 2, 2, 2]).double()
g = Head(64, [32, 32], 16).double()
for m in f.modules():
    if isinstance(m, nn.BatchNorm2d):  # non-trivial affine parameters, so their gradients matter
        nn.init.uniform_(m.weight, 0.5, 1.5)
        nn.init.uniform_(m.bias, -0.2, 0.2)
x = torch.randn(4, 3, 32, 32, dtype=torch.float64)
labels = torch.tensor([3, 0, 15, 7])


def entries_of(named):
    return [(k, v.detach().numpy().astype(np.float64)) for k, v in named]


def state(model, prefix):
    out = []
    for k, v in model.state_dict().items():
        if k.endswith("num_batches_tracked"):
            continue
        out.append((prefix + k, v.detach().numpy().astype(np.float64)))
    return out


def frame(kind, entries, width=8):
    payload = struct.pack("<B", width) + struct.pack("<Q", len(entries))
    for name, arr in entries:
        b = name.encode()
        shape = arr.shape if arr.ndim else (1,)
        payload += struct.pack("<Q", len(b)) + b
        payload += struct.pack("<Q", len(shape)) + struct.pack("<%dQ" % len(shape), *shape)
        vals = arr.ravel().astype("<f8" if width == 8 else "<f4")
        payload += struct.pack("<Q", vals.size) + vals.tobytes()
    k = kind.encode()
    body = b"ONECLASS" + struct.pack("<I", 1) + struct.pack("<Q", len(k)) + k + struct.pack("<Q", len(payload)) + payload
    return body + struct.pack("<I", zlib.crc32(body) & 0xFFFFFFFF)


os.makedirs(OUT, exist_ok=True)
# oneclass's weights file lists parameters then buffers; load_weights matches them by id.
weights = state(f, "f.") + state(g, "g.")
open(os.path.join(OUT, "weights.ocw"), "wb").write(frame("weights", weights))

f.train(), g.train()
feat = f(x)
z = g(feat)
loss = F.cross_entropy(z, labels)
loss.backward()
golden = [("input", x.numpy()), ("labels", labels.numpy().astype(np.float64)), ("f_train", feat.detach().numpy()),
          ("z_train", z.detach().numpy()), ("loss", np.array([loss.item()]))]
golden += [("grad." + k, v.grad.numpy().copy()) for k, v in list(f.named_parameters(prefix="f")) + list(g.named_parameters(prefix="g"))]
golden += [("after_forward." + k, v) for k, v in state(f, "f.") + state(g, "g.") if "running" in k]
opt = torch.optim.SGD(list(f.parameters()) + list(g.parameters()), lr=0.1, momentum=0.9, weight_decay=5e-4)
opt.step()
golden += [("after_step." + k, v.detach().numpy().copy()) for k, v in list(f.named_parameters(prefix="f")) + list(g.named_parameters(prefix="g"))]
f.eval(), g.eval()
with torch.no_grad():
    golden.append(("z_eval", g(f(x)).numpy()))
golden = [(k.replace("f.", "f.", 1), v) for k, v in golden]
open(os.path.join(OUT, "golden.ocg"), "wb").write(frame("golden", golden))
print("parameters:", sum(p.numel() for p in f.parameters()) + sum(p.numel() for p in g.parameters()),
      "loss", loss.item(), "files", sorted(os.listdir(OUT)))

# ---- single ops with their input gradients: tests/data/torch/ops.ocg ------------------------------
torch.manual_seed(1)
ops = []


def record(name, fn, *inputs):
    xs = [t.clone().requires_grad_(True) for t in inputs]
    y = fn(*xs)
    r = torch.randn_like(y)
    (y * r).sum().backward()
    ops.extend([(name + ".in%d" % i, t.detach().numpy()) for i, t in enumerate(xs)])
    ops.extend([(name + ".out", y.detach().numpy()), (name + ".r", r.numpy())])
    ops.extend([(name + ".grad%d" % i, t.grad.numpy()) for i, t in enumerate(xs)])


d = dict(dtype=torch.float64)
record("convT", lambda x, w, b: F.conv_transpose2d(x, w, b, stride=2, padding=1, output_padding=1),
       torch.randn(2, 3, 5, 4, **d), torch.randn(3, 4, 3, 3, **d), torch.randn(4, **d))
record("convT1", lambda x, w: F.conv_transpose2d(x, w, stride=1, padding=0), torch.randn(1, 2, 3, 3, **d),
       torch.randn(2, 3, 2, 2, **d))
record("bilinear", lambda x: F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False),
       torch.randn(2, 2, 3, 5, **d))
record("bilinear3", lambda x: F.interpolate(x, scale_factor=3, mode="bilinear", align_corners=False),
       torch.randn(1, 1, 4, 2, **d))
record("nearest", lambda x: F.interpolate(x, scale_factor=2, mode="nearest"), torch.randn(2, 2, 3, 3, **d))
record("avgpool", lambda x: F.avg_pool2d(x, 3, 2, 1), torch.randn(2, 3, 7, 6, **d))
open(os.path.join(OUT, "ops.ocg"), "wb").write(frame("golden", ops))
print("ops:", len(ops), "arrays")
