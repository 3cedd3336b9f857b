"""PyTorch twins of oneclass::nn::resnet and mlp_head, with the same parameter names.
Used by make_torch_golden.py (golden values) and benchmarks/compare_torch.py (peer timings)."""
import torch.nn as nn
import torch.nn.functional as F


class BasicBlock(nn.Module):
    def __init__(self, i, o, s):
        super().__init__()
        self.conv1 = nn.Conv2d(i, o, 3, s, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(o)
        self.conv2 = nn.Conv2d(o, o, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(o)
        self.downsample = None
        if s != 1 or i != o:
            self.downsample = nn.Sequential(nn.Conv2d(i, o, 1, s, 0, bias=False), nn.BatchNorm2d(o))

    def forward(self, x):
        h = F.relu(self.bn1(self.conv1(x)))
        h = self.bn2(self.conv2(h))
        return F.relu(h + (self.downsample(x) if self.downsample is not None else x))


class ResNet(nn.Module):
    def __init__(self, widths, blocks, cin=3):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, widths[0], 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        i = widths[0]
        for s, (w, b) in enumerate(zip(widths, blocks)):
            layers = []
            for k in range(b):
                layers.append(BasicBlock(i, w, 2 if (k == 0 and s > 0) else 1))
                i = w
            setattr(self, "layer%d" % (s + 1), nn.Sequential(*layers))

    def forward(self, x):
        h = F.relu(self.bn1(self.conv1(x)))
        for s in range(4):
            h = getattr(self, "layer%d" % (s + 1))(h)
        return h.mean((2, 3))


class Head(nn.Module):
    def __init__(self, d, hidden, out):
        super().__init__()
        layers = []
        for h in hidden:
            layers += [nn.Linear(d, h, bias=False), nn.BatchNorm1d(h), nn.ReLU()]
            d = h
        layers.append(nn.Linear(d, out))
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)
