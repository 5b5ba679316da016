#!/usr/bin/env python3
"""Trains the small CNN that exercises convolutions in cimpool compress / run.

Same data and split as tools/train_digits.py (scikit-learn digits, 8x8,
pixels / 16). Plain numpy (im2col convolutions, Adam), seed 0:

  conv1 3x3, 1 -> 16, padding 1, ReLU, 2x2 max pool    8x8 -> 4x4
  conv2 3x3, 16 -> 32, padding 1, ReLU, 2x2 max pool   4x4 -> 2x2
  fc    128 -> 10 on the map flattened in (c, y, x) order (PyTorch Flatten)

Writes fixtures/digits/cnn.npz (PyTorch names and layouts: conv weights
(out, in, kh, kw)) and fixtures/digits/cnn.toml (the model description).
The test and calibration images are those of train_digits.py (test.npz,
calib.npz): 1x8x8 samples flattened in (c, y, x) order.

Run: make venv && build/venv/bin/python tools/train_digits_cnn.py
"""
from pathlib import Path

import numpy as np

from train_digits import split

OUT = Path(__file__).resolve().parent.parent / "fixtures" / "digits"
EPOCHS, BATCH, LR = 40, 32, 2e-3


def im2col(x, k, pad):
    """(N, H, W, C) -> (N, H, W, k*k*C) in (ky, kx, c) order, stride 1."""
    n, h, w, c = x.shape
    xp = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    cols = [xp[:, ky : ky + h, kx : kx + w, :] for ky in range(k) for kx in range(k)]
    return np.concatenate(cols, axis=3)


def col2im(dcols, shape, k, pad):
    n, h, w, c = shape
    dxp = np.zeros((n, h + 2 * pad, w + 2 * pad, c), dtype=dcols.dtype)
    i = 0
    for ky in range(k):
        for kx in range(k):
            dxp[:, ky : ky + h, kx : kx + w, :] += dcols[..., i * c : (i + 1) * c]
            i += 1
    return dxp[:, pad : pad + h, pad : pad + w, :]


def pool2(x):
    n, h, w, c = x.shape
    v = x.reshape(n, h // 2, 2, w // 2, 2, c)
    out = v.max(axis=(2, 4))
    mask = v == out[:, :, None, :, None, :]
    return out, mask


def unpool2(dout, mask):
    d = mask * dout[:, :, None, :, None, :]
    d = d / np.maximum(mask.sum(axis=(2, 4), keepdims=True), 1)
    n, h2, _, w2, _, c = mask.shape
    return d.reshape(n, h2 * 2, w2 * 2, c)


def forward(p, x):
    """x: (N, 8, 8, 1). Returns logits and the cache for backward."""
    c1 = im2col(x, 3, 1)
    z1 = c1 @ p["w1"].T + p["b1"]
    a1, m1 = pool2(np.maximum(z1, 0))
    c2 = im2col(a1, 3, 1)
    z2 = c2 @ p["w2"].T + p["b2"]
    a2, m2 = pool2(np.maximum(z2, 0))
    flat = a2.transpose(0, 3, 1, 2).reshape(len(x), -1)  # (c, y, x), as PyTorch
    logits = flat @ p["w3"].T + p["b3"]
    return logits, (x, c1, z1, a1, m1, c2, z2, a2, m2, flat)


def backward(p, cache, dlogits):
    x, c1, z1, a1, m1, c2, z2, a2, m2, flat = cache
    g = {"w3": dlogits.T @ flat, "b3": dlogits.sum(0)}
    da2 = (dlogits @ p["w3"]).reshape(a2.shape[0], a2.shape[3], a2.shape[1], a2.shape[2]).transpose(0, 2, 3, 1)
    dz2 = unpool2(da2, m2) * (z2 > 0)
    g["w2"] = dz2.reshape(-1, dz2.shape[3]).T @ c2.reshape(-1, c2.shape[3])
    g["b2"] = dz2.sum((0, 1, 2))
    da1 = col2im(dz2 @ p["w2"], a1.shape, 3, 1)
    dz1 = unpool2(da1, m1) * (z1 > 0)
    g["w1"] = dz1.reshape(-1, dz1.shape[3]).T @ c1.reshape(-1, c1.shape[3])
    g["b1"] = dz1.sum((0, 1, 2))
    return g


def to_torch(w, cin):
    """(out, ky*kx*c) im2col matrix -> PyTorch (out, c, ky, kx)."""
    return w.reshape(w.shape[0], 3, 3, cin).transpose(0, 3, 1, 2)


def main():
    rng = np.random.default_rng(0)
    x_train, x_test, y_train, y_test = split()
    img = lambda x: (x / 16.0).astype(np.float32).reshape(-1, 8, 8, 1)
    x_train, x_test = img(x_train), img(x_test)
    he = lambda shape, fan_in: (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)
    # Weight matrices in (out, ky, kx, c) column order, as im2col reads.
    p = {
        "w1": he((16, 9), 9), "b1": np.zeros(16, np.float32),
        "w2": he((32, 144), 144), "b2": np.zeros(32, np.float32),
        "w3": he((10, 128), 128), "b3": np.zeros(10, np.float32),
    }
    m = {k: np.zeros_like(v) for k, v in p.items()}
    s = {k: np.zeros_like(v) for k, v in p.items()}
    step = 0
    for epoch in range(EPOCHS):
        order = rng.permutation(len(y_train))
        for lo in range(0, len(order), BATCH):
            b = order[lo : lo + BATCH]
            logits, cache = forward(p, x_train[b])
            e = np.exp(logits - logits.max(1, keepdims=True))
            prob = e / e.sum(1, keepdims=True)
            prob[np.arange(len(b)), y_train[b]] -= 1
            grads = backward(p, cache, prob / len(b))
            step += 1
            for k, gk in grads.items():
                m[k] = 0.9 * m[k] + 0.1 * gk
                s[k] = 0.999 * s[k] + 0.001 * gk * gk
                p[k] -= LR * (m[k] / (1 - 0.9**step)) / (np.sqrt(s[k] / (1 - 0.999**step)) + 1e-8)
    acc = (forward(p, x_test)[0].argmax(1) == y_test).mean()
    print(f"float test accuracy: {acc * 100:.2f}% on {len(y_test)} images")
    np.savez(
        OUT / "cnn.npz",
        **{
            "conv1.weight": to_torch(p["w1"], 1), "conv1.bias": p["b1"],
            "conv2.weight": to_torch(p["w2"], 16), "conv2.bias": p["b2"],
            "fc.weight": p["w3"], "fc.bias": p["b3"],
        },
    )
    (OUT / "cnn.toml").write_text(
        "# The digits CNN of tools/train_digits_cnn.py: 1x8x8 pixels 0..16, the net saw pixels / 16.\n"
        f"# Float test accuracy {acc * 100:.2f}% (numpy, seed 0).\n"
        "input_scale = 0.0625\ninput_shape = [1, 8, 8]\n\n"
        '[[layer]]\nname = "conv1"\nkind = "conv"\npadding = 1\nrelu = true\nmax_pool = 2\nshape = [16, 1, 3, 3]\n\n'
        '[[layer]]\nname = "conv2"\nkind = "conv"\npadding = 1\nrelu = true\nmax_pool = 2\nshape = [32, 16, 3, 3]\n\n'
        '[[layer]]\nname = "fc"\nkind = "fc"\nrelu = false\nshape = [10, 128]\n'
    )


if __name__ == "__main__":
    main()
