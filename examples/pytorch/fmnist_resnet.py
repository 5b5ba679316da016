#!/usr/bin/env python3
"""A user's own network, as README "Your own network" takes it: a small
residual CNN written and trained in PyTorch on Fashion-MNIST, exported with
PyTorch's default ONNX exporter (weights in an external .data file).

Layers: Conv + BatchNorm + ReLU stem, 2x2 max pooling, a residual block, a
strided conv, a second residual block, 7x7 average pooling,
`x.view(x.size(0), -1)`, Linear. Inputs are the pixels 0..255 / 255 (so
cimpool's --input-scale is 1/255).

  python3 examples/pytorch/fmnist_resnet.py --data /usr/share/datasets/fashion-mnist \
      --epochs 4 --out build/torch-fmnist/model.onnx

(`make torch-fmnist` runs it in build/venv-fixtures, PyTorch's pinned
environment.) Prints the float test accuracy; writes the model and its
.data file.
"""
import argparse
import gzip
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def idx(path):
    raw = gzip.open(path).read()
    dims = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c)

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        return F.relu(x + self.bn2(self.conv2(y)))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU())
        self.pool = nn.MaxPool2d(2)
        self.block1 = Block(16)
        self.down = nn.Sequential(nn.Conv2d(16, 32, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU())
        self.block2 = Block(32)
        self.avg = nn.AvgPool2d(7)
        self.fc = nn.Linear(32, 10)

    def forward(self, x):
        x = self.block2(self.down(self.block1(self.pool(self.stem(x)))))
        x = self.avg(x)
        return self.fc(x.view(x.size(0), -1))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", default="build/torch-fmnist/model.onnx")
    a = ap.parse_args()
    torch.manual_seed(a.seed)
    d = Path(a.data)
    xtr = torch.tensor(idx(d / "train-images-idx3-ubyte.gz"), dtype=torch.float32)[:, None] / 255
    ytr = torch.tensor(idx(d / "train-labels-idx1-ubyte.gz").astype(np.int64))
    xte = torch.tensor(idx(d / "t10k-images-idx3-ubyte.gz"), dtype=torch.float32)[:, None] / 255
    yte = torch.tensor(idx(d / "t10k-labels-idx1-ubyte.gz").astype(np.int64))
    net = Net()
    opt = torch.optim.Adam(net.parameters(), 2e-3)
    steps = a.epochs * (len(ytr) // 128)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, 2e-3, total_steps=steps)
    for epoch in range(a.epochs):
        net.train()
        t0 = time.time()
        perm = torch.randperm(len(ytr))
        for i in range(len(ytr) // 128):
            idx_ = perm[i * 128 : (i + 1) * 128]
            loss = F.cross_entropy(net(xtr[idx_]), ytr[idx_])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        net.eval()
        with torch.no_grad():
            acc = (torch.cat([net(xte[i : i + 1000]).argmax(1) for i in range(0, len(yte), 1000)]) == yte).float().mean()
        print(f"epoch {epoch + 1}/{a.epochs}: loss {loss.item():.4f}, float test accuracy {100 * acc:.2f}% ({time.time() - t0:.0f} s)", flush=True)
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    prog = torch.onnx.export(net, (torch.rand(1, 1, 28, 28),), dynamo=True)
    prog.save(str(out), external_data=True)
    print(f"wrote {out} and {out.name}.data (float test accuracy {100 * acc:.2f}%)")


if __name__ == "__main__":
    main()
