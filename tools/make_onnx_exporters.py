#!/usr/bin/env python3
"""Writes the ONNX fixtures that real exporters produce, for cimpool's
import tests (tests/onnx_exporters.rs). `make test` reads the committed
files; only rewriting them needs PyTorch and skl2onnx (make
onnx-exporter-fixtures, in build/venv-fixtures: about 6 GB, PyTorch's wheels
pull CUDA libraries).

- fixtures/onnx/torch/dynamo/model.onnx (+ model.onnx.data: the default
  `torch.onnx.export` of PyTorch 2.x, weights in an external data file) and
  fixtures/onnx/torch/legacy.onnx (`dynamo=False`: Identity aliases of
  initializers, Shape -> Gather -> Unsqueeze -> Concat -> Reshape for the
  `view` flatten). One seeded, untrained network with the idioms people
  write: Conv + BatchNorm + ReLU, a residual add, an explicit F.pad before
  an unpadded conv, max pooling, a depthwise 3x3 + pointwise block with
  ReLU6, a channel concat, average pooling, `x.view(x.size(0), -1)`, a
  Linear and a final softmax.
- fixtures/onnx/torch/io.npz: inputs `x` (1x12x12, integers 0..16, input
  scale 1/16), PyTorch's scores before the softmax `logits`, labels `y` (the
  predicted class).
- fixtures/onnx/sklearn/mlp.onnx and scaled_mlp.onnx: scikit-learn
  MLPClassifier (32 hidden) trained on fixtures/digits/train.npz, alone and
  after a StandardScaler, converted by skl2onnx with its defaults (Cast,
  Softmax, ArgMax, ArrayFeatureExtractor, ZipMap; Scaler). io.npz: the
  inputs `x` of fixtures/digits/test.npz (integers 0..16), `<name>_proba`
  from predict_proba, `<name>_y` = predict.

Run: make onnx-exporter-fixtures
"""
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parent.parent
TORCH = ROOT / "fixtures" / "onnx" / "torch"
SKL = ROOT / "fixtures" / "onnx" / "sklearn"


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU())
        self.conv1 = nn.Conv2d(8, 8, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=0, bias=False)  # after F.pad
        self.bn2 = nn.BatchNorm2d(8)
        self.pool = nn.MaxPool2d(2)
        self.dw = nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False)
        self.dw_bn = nn.BatchNorm2d(8)
        self.pw = nn.Conv2d(8, 16, 1)
        self.pw_bn = nn.BatchNorm2d(16)
        self.branch = nn.Conv2d(8, 8, 1)
        self.avg = nn.AvgPool2d(2)
        self.fc = nn.Linear(24 * 3 * 3, 10)

    def forward(self, x):
        x = self.stem(x)
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(F.pad(y, (1, 1, 1, 1))))
        x = F.relu(x + y)
        x = self.pool(x)  # 6x6
        a = F.relu6(self.dw_bn(self.dw(x)))
        a = F.relu6(self.pw_bn(self.pw(a)))
        b = F.relu(self.branch(x))
        x = torch.cat([a, b], 1)  # 24 channels
        x = self.avg(x)  # 3x3
        x = x.view(x.size(0), -1)
        return F.softmax(self.fc(x), dim=1)


def torch_fixtures():
    torch.manual_seed(1)
    net = Net()
    # BatchNorm statistics that are not the identity: a few batches in
    # training mode set them, then inference mode.
    net.train()
    with torch.no_grad():
        for _ in range(5):
            net(torch.rand(32, 1, 12, 12) * 2)
    net.eval()
    rng = np.random.default_rng(1)
    x = rng.integers(0, 17, size=(16, 1, 12, 12))
    xt = torch.tensor(x, dtype=torch.float32) / 16
    with torch.no_grad():
        probs = net(xt)
        # The scores before the softmax (the network's fc output).
        feats = net
        h = feats.stem(xt)
        y = F.relu(feats.bn1(feats.conv1(h)))
        y = feats.bn2(feats.conv2(F.pad(y, (1, 1, 1, 1))))
        h = feats.pool(F.relu(h + y))
        a = F.relu6(feats.pw_bn(feats.pw(F.relu6(feats.dw_bn(feats.dw(h))))))
        b = F.relu(feats.branch(h))
        h = feats.avg(torch.cat([a, b], 1))
        logits = feats.fc(h.view(h.size(0), -1))
    assert torch.allclose(torch.softmax(logits, 1), probs, atol=1e-6)
    example = (torch.rand(1, 1, 12, 12),)
    (TORCH / "dynamo").mkdir(parents=True, exist_ok=True)
    dyn = TORCH / "dynamo" / "model.onnx"
    prog = torch.onnx.export(net, example, dynamo=True, external_data=True)
    prog.save(str(dyn), external_data=True)
    torch.onnx.export(
        net, example, str(TORCH / "legacy.onnx"), dynamo=False,
        input_names=["x"], output_names=["probs"], dynamic_axes={"x": {0: "batch"}},
    )
    np.savez(
        TORCH / "io.npz",
        x=x.reshape(len(x), -1).astype(np.int64),
        logits=logits.numpy().astype(np.float32),
        y=logits.argmax(1).numpy().astype(np.int64),
    )
    assert (TORCH / "dynamo" / "model.onnx.data").exists(), "the dynamo exporter wrote no external data"


def sklearn_fixtures():
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    digits = ROOT / "fixtures" / "digits"
    tr, te = np.load(digits / "train.npz"), np.load(digits / "test.npz")
    xtr, ytr, xte = tr["x"].astype(np.float32), tr["y"], te["x"].astype(np.float32)
    SKL.mkdir(parents=True, exist_ok=True)
    out = {"x": xte.astype(np.uint8)}
    for name, model in [
        ("mlp", MLPClassifier(hidden_layer_sizes=(32,), max_iter=300, random_state=1)),
        ("scaled_mlp", make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(32,), max_iter=300, random_state=1))),
    ]:
        model.fit(xtr, ytr)
        onx = convert_sklearn(model, initial_types=[("input", FloatTensorType([None, 64]))])
        (SKL / f"{name}.onnx").write_bytes(onx.SerializeToString())
        out[f"{name}_proba"] = model.predict_proba(xte).astype(np.float32)
        out[f"{name}_y"] = model.predict(xte).astype(np.int64)
    out["y"] = out["mlp_y"]
    np.savez(SKL / "io.npz", **out)


if __name__ == "__main__":
    import sys

    # `sklearn` or `torch` alone: the other's files stay as committed.
    if "sklearn" not in sys.argv[1:]:
        torch_fixtures()
    if "torch" not in sys.argv[1:]:
        sklearn_fixtures()
    for f in sorted((ROOT / "fixtures" / "onnx").rglob("*")):
        if f.is_file() and ("torch" in f.parts or "sklearn" in f.parts):
            print(f"{f.relative_to(ROOT)}: {f.stat().st_size} bytes")
