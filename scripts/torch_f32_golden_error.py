#!/usr/bin/python3
"""PyTorch's own float32 error on the golden comparison (tests/test_torch_golden.cpp's measure).

Builds the model of scripts/make_torch_golden.py (same seed), runs forward, backward, one SGD
step and the eval forward in float64 and in float32, and prints the worst values of
max |float32 - float64| / (1e-4 * max |float64|) per checked array: what the C++ test's float
tolerance would say of PyTorch itself. Usage: /usr/bin/python3 scripts/torch_f32_golden_error.py
"""
import copy, os, sys
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_resnet import Head, ResNet

torch.manual_seed(0); torch.set_num_threads(1)
f = ResNet([8, 16, 32, 64], [2, 2, 2, 2]).double(); g = Head(64, [32, 32], 16).double()
for m in f.modules():
    if isinstance(m, nn.BatchNorm2d):
        nn.init.uniform_(m.weight, 0.5, 1.5); nn.init.uniform_(m.bias, -0.2, 0.2)
x = torch.randn(4, 3, 32, 32, dtype=torch.float64); labels = torch.tensor([3, 0, 15, 7])
def run(f, g, x):
    f.train(), g.train(); feat = f(x); z = g(feat); loss = F.cross_entropy(z, labels); loss.backward()
    out = {"z_train": z.detach().double().numpy(), "f_train": feat.detach().double().numpy()}
    for k, v in list(f.named_parameters(prefix="f")) + list(g.named_parameters(prefix="g")): out["grad."+k] = v.grad.double().numpy()
    opt = torch.optim.SGD(list(f.parameters()) + list(g.parameters()), lr=0.1, momentum=0.9, weight_decay=5e-4); opt.step()
    f.eval(), g.eval()
    with torch.no_grad(): out["z_eval"] = g(f(x)).double().numpy()
    return out
f32, g32 = copy.deepcopy(f).float(), copy.deepcopy(g).float()
ref = run(f, g, x); got = run(f32, g32, x.float())
r = sorted((np.abs(got[k]-ref[k]).max() / (1e-4*max(1e-12, np.abs(ref[k]).max())), k) for k in ref)
for e, k in r[-6:]: print("%.3f %s" % (e, k))
