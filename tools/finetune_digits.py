#!/usr/bin/env python3
"""Fine-tunes the digits MLP against a fixed weight pool (straight-through estimator).

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

Usage (the Makefile target `finetune` runs all three steps):
  cimpool compress ... --out build/pt                  # writes build/pt/pool.npy
  python3 tools/finetune_digits.py --pool build/pt/pool.npy --keep 0.5 \
      --out fixtures/digits/mlp_finetuned.npz
  cimpool compress --weights fixtures/digits/mlp_finetuned.npz --pool build/pt/pool.npy --keep 0.5 ...

Data and split are those of tools/train_digits.py; the test split is never
used for training or for choosing when to stop (a fixed number of epochs).
"""
import argparse
from pathlib import Path

import numpy as np

from train_digits import split

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ("fc1", "fc2", "fc3")


def project(w, pool, keep):
    """cimpool's effective weights for one layer (out, in) against pool (P, R)."""
    out, fan_in = w.shape
    rows = pool.shape[1]
    blocks = -(-fan_in // rows)
    v = np.zeros((out, blocks * rows), dtype=np.float32)
    v[:, :fan_in] = w
    v = v.reshape(out, blocks, rows)
    real = np.zeros(blocks * rows, dtype=bool)
    real[:fan_in] = True
    real = real.reshape(blocks, rows)
    idx = np.argmax(v @ pool.T, axis=2)  # first of equal scores, as cimpool
    p = pool[idx]
    count = out * fan_in
    alpha = np.float32((v * p).sum() / count)
    r = v - alpha * p
    beta = np.float32(np.abs(r * real).sum() / count)
    energy = ((r * real) ** 2).sum(axis=2)  # (out, blocks)
    tiles = out * blocks
    kept = min(int(np.floor(keep * tiles + 0.5)), tiles)
    cs, bs = np.meshgrid(np.arange(out), np.arange(blocks), indexing="ij")
    order = np.lexsort((bs.ravel(), cs.ravel(), -energy.ravel()))
    mask = np.zeros(tiles, dtype=bool)
    mask[order[:kept]] = True
    mask = mask.reshape(out, blocks, 1)
    e = np.where(r >= 0, 1.0, -1.0).astype(np.float32)
    eff = alpha * p + beta * mask * e
    return eff.reshape(out, blocks * rows)[:, :fan_in]


def forward(params, x, weights):
    acts = [x]
    for i, name in enumerate(LAYERS):
        z = acts[-1] @ weights[name].T + params[f"{name}.bias"]
        acts.append(np.maximum(z, 0.0) if i < len(LAYERS) - 1 else z)
    return acts


def accuracy(params, x, y, pool, keep):
    eff = {n: project(params[f"{n}.weight"], pool, keep) for n in LAYERS}
    return float((forward(params, x, eff)[-1].argmax(axis=1) == y).mean())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pool", required=True, help="pool.npy written by cimpool compress")
    ap.add_argument("--keep", type=float, default=0.5, help="keep ratio the hardware images will use")
    ap.add_argument("--weights", default=str(ROOT / "fixtures/digits/mlp.npz"))
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(ROOT / "fixtures/digits/mlp_finetuned.npz"))
    args = ap.parse_args()

    pool = np.load(args.pool).astype(np.float32)
    params = {k: v.astype(np.float32) for k, v in np.load(args.weights).items()}
    x_train, x_test, y_train, y_test = split()
    x_train, x_test = (x_train / 16.0).astype(np.float32), (x_test / 16.0).astype(np.float32)
    print(f"before: test accuracy with compressed weights {accuracy(params, x_test, y_test, pool, args.keep) * 100:.2f}%")

    rng = np.random.default_rng(args.seed)
    m = {k: np.zeros_like(v) for k, v in params.items()}
    s = {k: np.zeros_like(v) for k, v in params.items()}
    step = 0
    for epoch in range(args.epochs):
        order = rng.permutation(len(y_train))
        for lo in range(0, len(order), args.batch):
            batch = order[lo : lo + args.batch]
            x, y = x_train[batch], y_train[batch]
            eff = {n: project(params[f"{n}.weight"], pool, args.keep) for n in LAYERS}
            acts = forward(params, x, eff)
            logits = acts[-1] - acts[-1].max(axis=1, keepdims=True)
            prob = np.exp(logits)
            prob /= prob.sum(axis=1, keepdims=True)
            grad = prob
            grad[np.arange(len(y)), y] -= 1.0
            grad /= len(y)
            grads = {}
            for i in reversed(range(len(LAYERS))):
                name = LAYERS[i]
                # Straight-through: the gradient of W_eff updates W.
                grads[f"{name}.weight"] = grad.T @ acts[i]
                grads[f"{name}.bias"] = grad.sum(axis=0)
                if i > 0:
                    grad = (grad @ eff[name]) * (acts[i] > 0)
            step += 1
            for k, g in grads.items():
                m[k] = 0.9 * m[k] + 0.1 * g
                s[k] = 0.999 * s[k] + 0.001 * g * g
                mh, sh = m[k] / (1 - 0.9**step), s[k] / (1 - 0.999**step)
                params[k] -= args.lr * mh / (np.sqrt(sh) + 1e-8)
        if (epoch + 1) % 10 == 0:
            tr = accuracy(params, x_train, y_train, pool, args.keep)
            print(f"epoch {epoch + 1}: train accuracy with compressed weights {tr * 100:.2f}%")
    te = accuracy(params, x_test, y_test, pool, args.keep)
    print(f"after {args.epochs} epochs: test accuracy with compressed weights {te * 100:.2f}% (keep {args.keep})")
    np.savez(args.out, **{k: v.astype(np.float32) for k, v in params.items()})
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
