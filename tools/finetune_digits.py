#!/usr/bin/env python3
"""Fine-tunes a digits network (MLP or CNN) through cimpool's compression (straight-through estimator).

Post-training compression alone loses accuracy at under 1 bit per weight (see
docs/COMPRESSION.md). As the weight-pool papers do, this keeps the pool fixed
and trains the float weights through the compression: every forward pass uses
the effective weights cimpool would make of the current float weights

    W_eff = alpha * pool[idx] + beta * mask * sign(W - alpha * pool[idx])

(assignment by highest cosine, alpha = mean of w . p, beta = mean |residual|,
per layer; the error tiles of a keep ratio of (channel, row block) tiles with
the most residual energy keep their error bits), and the gradient with respect
to W_eff updates W unchanged (straight-through). The projection mirrors
`compress_layer` in src/compress/mod.rs for `crossbar = "mux"`, so
`cimpool compress --pool <the same pool> --keep <the same ratio>` on the
weights written here rebuilds the same effective weights.

Usage (`make finetune NET=mlp|cnn KEEP=k` runs all three steps; run from tools/):
  cimpool compress ... --out build/pt                  # writes build/pt/pool.npy
  python3 finetune_digits.py --net mlp --pool build/pt/pool.npy --keep 0.5 --out mlp_finetuned.npz
  cimpool compress --weights mlp_finetuned.npz --pool build/pt/pool.npy --keep 0.5 ...

The dense engine (MARS flow, `--images DIR` of a `cimpool compress --engine
dense` run instead of `--pool`) trains the same way through its projection:
per-layer symmetric quantization to w_bits (step = max |w| / (2^(w_bits-1) - 1),
rounding half away from zero) and the block pruning of src/compress/dense.rs
(units of W rows of one tile across the pass's lanes, the most quantized
energy kept up to 1 - sparsity, at most `slots` per tile with compact
storage). The hardware configuration and the sparsity come from DIR's
cim_config.toml and report.json, so the images made from the weights written
here use the same projection:
  cimpool compress --engine dense --sparsity 0.5 ... --out build/dense-pt
  python3 finetune_digits.py --net mlp --images build/dense-pt --out mlp_dense.npz
  cimpool compress --engine dense --sparsity 0.5 --weights mlp_dense.npz ...

Data and split are those of tools/train_digits.py; the test split is never
used for training or for choosing when to stop (a fixed number of epochs).
"""
import argparse
from pathlib import Path

import numpy as np

import train_digits_cnn as cnn
from projection import DenseProjection, project
from train_digits import split

ROOT = Path(__file__).resolve().parent.parent


class Mlp:
    """The 64-128-128-10 MLP of train_digits.py; weights are (out, in)."""

    weights = {"fc1.weight": None, "fc2.weight": None, "fc3.weight": None}  # no reordering
    default = "mlp.npz"

    def load(self, path):
        t = np.load(path)
        return {k: t[k].astype(np.float32) for k in t.files}

    def save(self, p):
        return p

    def images(self, x):
        return (x / 16.0).astype(np.float32)

    def forward(self, p, x):
        acts = [x]
        for i in (1, 2, 3):
            z = acts[-1] @ p[f"fc{i}.weight"].T + p[f"fc{i}.bias"]
            acts.append(np.maximum(z, 0.0) if i < 3 else z)
        return acts[-1], acts

    def backward(self, p, acts, grad):
        g = {}
        for i in (3, 2, 1):
            g[f"fc{i}.weight"] = grad.T @ acts[i - 1]
            g[f"fc{i}.bias"] = grad.sum(axis=0)
            if i > 1:
                grad = (grad @ p[f"fc{i}.weight"]) * (acts[i - 1] > 0)
        return g


class Cnn:
    """The CNN of train_digits_cnn.py. Its matrices hold conv columns in
    (ky, kx, c) order already; fc columns are in PyTorch Flatten (c, y, x)
    order of the 2x2x32 map and are reordered to (y, x, c) to project."""

    _yxc = np.array([c * 4 + y * 2 + x for y in range(2) for x in range(2) for c in range(32)])
    weights = {"w1": None, "w2": None, "w3": _yxc}
    default = "cnn.npz"

    def load(self, path):
        t = np.load(path)
        conv = lambda w: w.transpose(0, 2, 3, 1).reshape(w.shape[0], -1)
        return {
            "w1": conv(t["conv1.weight"]), "b1": t["conv1.bias"],
            "w2": conv(t["conv2.weight"]), "b2": t["conv2.bias"],
            "w3": t["fc.weight"], "b3": t["fc.bias"],
        }

    def save(self, p):
        return {
            "conv1.weight": cnn.to_torch(p["w1"], 1), "conv1.bias": p["b1"],
            "conv2.weight": cnn.to_torch(p["w2"], 16), "conv2.bias": p["b2"],
            "fc.weight": p["w3"], "fc.bias": p["b3"],
        }

    def images(self, x):
        return (x / 16.0).astype(np.float32).reshape(-1, 8, 8, 1)

    def forward(self, p, x):
        return cnn.forward(p, x)

    def backward(self, p, cache, grad):
        return cnn.backward(p, cache, grad)


def effective(net, params, proj):
    """The parameters with every weight matrix replaced by cimpool's
    effective weights (`proj` of the engine's column order), in the
    network's own column order."""
    eff = dict(params)
    for name, order in net.weights.items():
        w = params[name]
        if order is None:
            eff[name] = proj(w)
        else:
            e = np.empty_like(w)
            e[:, order] = proj(w[:, order])
            eff[name] = e
    return eff


def accuracy(net, params, x, y, proj):
    logits, _ = net.forward(effective(net, params, proj), x)
    return float((logits.argmax(axis=1) == y).mean())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--net", choices=("mlp", "cnn"), default="mlp")
    engine = ap.add_mutually_exclusive_group(required=True)
    engine.add_argument("--pool", help="pool.npy written by cimpool compress (pool engine)")
    engine.add_argument("--images", help="images folder of a `cimpool compress --engine dense` run (dense engine)")
    ap.add_argument("--keep", type=float, default=0.5, help="pool engine: keep ratio the hardware images will use")
    ap.add_argument("--weights", help="float weights to start from (default: fixtures/digits/<net>.npz)")
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()

    net = Mlp() if args.net == "mlp" else Cnn()
    if args.pool:
        pool = np.load(args.pool).astype(np.float32)
        proj, what = (lambda w: project(w, pool, args.keep)), f"keep {args.keep}"
    else:
        proj = DenseProjection(args.images)
        what = f"dense {proj.w_bits}-bit, sparsity {proj.sparsity}"
    params = net.load(args.weights or ROOT / "fixtures/digits" / net.default)
    x_train, x_test, y_train, y_test = split()
    x_train, x_test = net.images(x_train), net.images(x_test)
    before = accuracy(net, params, x_test, y_test, proj)
    print(f"before: test accuracy with compressed weights {before * 100:.2f}%")

    rng = np.random.default_rng(args.seed)
    m = {k: np.zeros_like(v) for k, v in params.items()}
    s = {k: np.zeros_like(v) for k, v in params.items()}
    step = 0
    for epoch in range(args.epochs):
        order = rng.permutation(len(y_train))
        for lo in range(0, len(order), args.batch):
            batch = order[lo : lo + args.batch]
            x, y = x_train[batch], y_train[batch]
            eff = effective(net, params, proj)
            logits, cache = net.forward(eff, x)
            prob = np.exp(logits - logits.max(axis=1, keepdims=True))
            prob /= prob.sum(axis=1, keepdims=True)
            prob[np.arange(len(y)), y] -= 1.0
            # Straight-through: the gradients of the effective weights
            # update the float weights.
            grads = net.backward(eff, cache, prob / len(y))
            step += 1
            for k, g in grads.items():
                m[k] = 0.9 * m[k] + 0.1 * g
                s[k] = 0.999 * s[k] + 0.001 * g * g
                mh, sh = m[k] / (1 - 0.9**step), s[k] / (1 - 0.999**step)
                params[k] -= args.lr * mh / (np.sqrt(sh) + 1e-8)
        if (epoch + 1) % 10 == 0:
            tr = accuracy(net, params, x_train, y_train, proj)
            print(f"epoch {epoch + 1}: train accuracy with compressed weights {tr * 100:.2f}%")
    te = accuracy(net, params, x_test, y_test, proj)
    print(f"after {args.epochs} epochs: test accuracy with compressed weights {te * 100:.2f}% ({what})")
    np.savez(args.out, **{k: v.astype(np.float32) for k, v in net.save(params).items()})
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
