#!/usr/bin/env python3
"""Trains the Fashion-MNIST networks and fine-tunes them against a fixed weight pool (JAX + optax).

Two networks, with the tensor names cimpool reads:
  mlp     784-256-128-10, ReLU (Li & Gupta, MLSys 2022): fc1, fc2, fc3
          (fixtures/fmnist/mlp.toml)
  resnet  cimpool's built-in `resnet-fmnist`: a 3x3 stem and three basic
          blocks (16, 32, 64 channels, strides 1, 2, 2, 1x1 downsample),
          global average pooling, fc; torchvision names with BatchNorm
          (`cimpool model resnet-fmnist`)
  resnet20  the same with three basic blocks a stage (ResNet-20's depth,
          0.27 M weights; `cimpool model resnet20-fmnist`)

Inputs are pixels / 255 (`input_scale = 1/255`), read from the IDX files of
Debian's dataset-fashion-mnist. Training uses the 60,000 training images
only, for a fixed number of epochs; the test set never chooses anything.

`make fmnist` fine-tunes with `make train` (tools/adc_train.py); `finetune`
below is the earlier script its recipe comes from, kept to reproduce the
published rows it made. Fine-tuning for the pool engine keeps the pool fixed (the `pool.npy` a post-training
`cimpool compress` wrote) and trains through the compression with a
straight-through estimator: every forward pass uses the effective weights
cimpool would make of the current weights (BatchNorm folded with its running
statistics first, as `cimpool compress` folds it; assignment by highest
cosine, one alpha and beta per layer, the error tiles of the keep ratio
with the most residual energy), and their gradient updates the weights.
The projection mirrors src/compress/residual.rs for `crossbar = "mux"`,
so `cimpool compress --pool <the same pool> --keep <the same ratio>`
rebuilds the same effective weights from the saved ones. For the dense
engine (`--images` of a `cimpool compress --engine dense` run, sparsity none
or skip) the projection is src/compress/dense.rs's w_bits quantization and
block pruning, with the settings read from that run.

  python3 fmnist.py train    --net resnet --out resnet.npz
  python3 fmnist.py train    --net resnet20 --checkpoint r20.ckpt --out r20.npz   # resumes from r20.ckpt
  python3 fmnist.py finetune --net resnet --weights resnet.npz --pool pool.npy --keep 0.5 --out ft.npz
  python3 fmnist.py subset   --count 300 --out DIR     # small IDX test files + calibration images
  python3 fmnist.py table    --out build/fmnist --nets mlp resnet --keeps 0.3 0.5  # results of make fmnist

`make fmnist` runs the whole chain (docs/COMPRESSION.md has its tables).
"""
import argparse
import gzip
import json
import re
import struct
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

from checkpoint import EVERY as CHECKPOINT_EVERY, Checkpoint, to_device, to_host

DATA = Path("/usr/share/datasets/fashion-mnist")
EPS = 1e-5  # PyTorch's BatchNorm default, which cimpool folds with
MOMENTUM = 0.1


def read_idx(path):
    """An IDX file of unsigned bytes (raw or gzip) as an array."""
    raw = Path(path).read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    if len(raw) < 4 or raw[:3] != b"\x00\x00\x08":
        sys.exit(f"{path}: not an IDX file of unsigned bytes")
    nd = raw[3]
    dims = struct.unpack(">" + "I" * nd, raw[4 : 4 + 4 * nd])
    body = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * nd)
    if body.size != int(np.prod(dims)):
        sys.exit(f"{path}: {body.size} values for dimensions {dims} (truncated?)")
    return body.reshape(dims)


def write_idx(path, a):
    header = bytes([0, 0, 8, a.ndim]) + struct.pack(">" + "I" * a.ndim, *a.shape)
    with gzip.GzipFile(path, "wb", mtime=0) as f:  # mtime 0: same bytes every run
        f.write(header + a.astype(np.uint8).tobytes())


def load(split, data):
    x = read_idx(data / f"{split}-images-idx3-ubyte.gz")
    y = read_idx(data / f"{split}-labels-idx1-ubyte.gz")
    return x.astype(np.float32)[..., None] / 255.0, y.astype(np.int32)  # NHWC


# ---------------------------------------------------------------- projection


def project(w, pool, keep):
    """cimpool's effective weights of one layer: w is (out, fan-in) with
    columns in the engine's (ky, kx, c) order, pool (P, R) of +-1."""
    out, fan_in = w.shape
    rows = pool.shape[1]
    blocks = -(-fan_in // rows)
    v = jnp.pad(w, ((0, 0), (0, blocks * rows - fan_in))).reshape(out, blocks, rows)
    real = (jnp.arange(blocks * rows) < fan_in).reshape(blocks, rows)
    p = pool[jnp.argmax(v @ pool.T, axis=2)]  # first of equal scores, as cimpool
    count = out * fan_in
    alpha = (v * p).sum() / count
    r = v - alpha * p
    beta = jnp.abs(r * real).sum() / count
    tiles = out * blocks
    kept = min(int(np.floor(keep * tiles + 0.5)), tiles)
    mask = jnp.zeros(tiles)
    if kept:
        # top_k puts the lower index first among equal energies: cimpool's
        # (channel, block) order.
        energy = ((r * real) ** 2).sum(axis=2).reshape(tiles)
        mask = mask.at[jax.lax.top_k(energy, kept)[1]].set(1.0)
    e = jnp.where(r >= 0, 1.0, -1.0)
    eff = alpha * p + beta * mask.reshape(out, blocks, 1) * e
    return eff.reshape(out, blocks * rows)[:, :fan_in]


def dense_project(w, c):
    """The dense engine's effective weights of one layer (src/compress/dense.rs,
    skip or no block sparsity): w_bits symmetric quantization with one step,
    then the phase blocks (W rows of one tile across the pass's lanes) with
    the most quantized energy kept up to 1 - sparsity."""
    out, fan_in = w.shape
    rows, wl, lanes = c["rows"], c["wl"], c["lanes"]
    qmax = float((1 << (c["w_bits"] - 1)) - 1)
    step = jnp.maximum(jnp.abs(w).max(), 1e-12) / qmax
    x = w / step
    q = jnp.clip(jnp.sign(x) * jnp.floor(jnp.abs(x) + 0.5), -qmax, qmax)  # half away from zero
    phases, blocks, passes = rows // wl, -(-fan_in // rows), -(-out // lanes)
    qp = jnp.pad(q, ((0, passes * lanes - out), (0, blocks * rows - fan_in)))
    # Integer energies (exact, as cimpool's).
    qi = qp.astype(jnp.int32).reshape(passes, lanes, blocks, phases, wl)
    energy = (qi * qi).sum(axis=(1, 4)).reshape(-1)
    # Units holding real weights, in cimpool's (pass, block, phase) order.
    real = np.array([b * rows + h * wl < fan_in for _ in range(passes) for b in range(blocks) for h in range(phases)])
    kept = max(int(np.floor((1.0 - c["sparsity"]) * real.sum() + 0.5)), min(1, int(real.sum())))
    mask = jnp.zeros(energy.shape)
    if kept:
        # top_k takes the lower index first among equal energies; a unit of
        # zeros is never kept.
        mask = mask.at[jax.lax.top_k(energy, kept)[1]].set(1.0) * (energy > 0)
        mask = jax.lax.stop_gradient(mask)
    m = jnp.broadcast_to(mask.reshape(passes, 1, blocks, phases, 1), (passes, lanes, blocks, phases, wl))
    m = m.reshape(passes * lanes, blocks * rows)[:out, :fan_in]
    return q * step * m


def dense_config(images):
    """The dense engine's projection settings from a `cimpool compress
    --engine dense` run's cim_config.toml and report.json."""
    import tomllib

    c = tomllib.loads((Path(images) / "cim_config.toml").read_text())
    if c["engine"] != "dense" or c["sparsity"] == "compact":
        sys.exit(f"{images}: fmnist.py fine-tunes dense engines with sparsity none or skip")
    report = json.loads((Path(images) / "report.json").read_text())
    return {
        "w_bits": c["w_bits"],
        "rows": c["rows"],
        "wl": c["wl_parallel"] or c["rows"],
        "lanes": c["macros"] * (c["cols"] // c["w_bits"]),
        "sparsity": report["sparsity"],
    }


def straight_through(w, proj):
    """The effective weights (`proj`) forward, the identity backward."""
    if proj is None:
        return w
    return w + jax.lax.stop_gradient(proj(w) - w)


# ---------------------------------------------------------------- networks


class Mlp:
    sizes = (784, 256, 128, 10)

    def init(self, key):
        params = {}
        for i, (n_in, n_out) in enumerate(zip(self.sizes, self.sizes[1:]), 1):
            key, k = jax.random.split(key)
            bound = 1.0 / np.sqrt(n_in)  # PyTorch's nn.Linear initialisation
            params[f"fc{i}.weight"] = jax.random.uniform(k, (n_out, n_in), minval=-bound, maxval=bound)
            params[f"fc{i}.bias"] = jnp.zeros(n_out)
        return params, {}

    def apply(self, params, state, x, train, proj=None):
        h = x.reshape(x.shape[0], -1)
        for i in (1, 2, 3):
            w = straight_through(params[f"fc{i}.weight"], proj)
            h = h @ w.T + params[f"fc{i}.bias"]
            if i < 3:
                h = jax.nn.relu(h)
        return h, state


def basic_blocks(depth):
    """(name, in, out, stride) of the basic blocks of cimpool's built-in
    residual networks: three stages of 16, 32 and 64 channels with `depth`
    blocks each, the first block of a later stage halving the map."""
    blocks, cin = [], 16
    for stage, width in enumerate((16, 32, 64)):
        for b in range(depth):
            blocks.append((f"layer{stage + 1}.{b}", cin, width, 2 if stage > 0 and b == 0 else 1))
            cin = width
    return tuple(blocks)


class ResNet:
    """`cimpool model resnet-fmnist` (one block a stage); ResNet20 below has three."""

    depth = 1

    def __init__(self):
        self.blocks = basic_blocks(self.depth)

    def convs(self):
        """(conv, bn, in, out, kernel, stride, padding) of every conv."""
        c = [("conv1", "bn1", 1, 16, 3, 1, 1)]
        for name, cin, cout, s in self.blocks:
            c.append((f"{name}.conv1", f"{name}.bn1", cin, cout, 3, s, 1))
            c.append((f"{name}.conv2", f"{name}.bn2", cout, cout, 3, 1, 1))
            if s != 1 or cin != cout:
                c.append((f"{name}.downsample.0", f"{name}.downsample.1", cin, cout, 1, s, 0))
        return c

    def init(self, key):
        params, state = {}, {}
        for conv, bn, cin, cout, k, _, _ in self.convs():
            key, sub = jax.random.split(key)
            std = np.sqrt(2.0 / (cout * k * k))  # He, fan-out (torchvision)
            params[f"{conv}.weight"] = std * jax.random.normal(sub, (cout, cin, k, k))
            params[f"{bn}.weight"] = jnp.ones(cout)
            params[f"{bn}.bias"] = jnp.zeros(cout)
            state[f"{bn}.running_mean"] = jnp.zeros(cout)
            state[f"{bn}.running_var"] = jnp.ones(cout)
        key, sub = jax.random.split(key)
        bound = 1.0 / 8.0
        params["fc.weight"] = jax.random.uniform(sub, (10, 64), minval=-bound, maxval=bound)
        params["fc.bias"] = jnp.zeros(10)
        return params, state

    def conv_bn(self, params, state, new_state, x, spec, train, proj):
        conv, bn, _, cout, _, stride, pad = spec
        w = params[f"{conv}.weight"]
        g, b = params[f"{bn}.weight"], params[f"{bn}.bias"]
        dn = ("NHWC", "OIHW", "NHWC")
        conv_of = lambda w: jax.lax.conv_general_dilated(x, w, (stride, stride), [(pad, pad)] * 2, dimension_numbers=dn)
        if train:
            z = conv_of(w)
            mean, var = z.mean(axis=(0, 1, 2)), z.var(axis=(0, 1, 2))
            n = z.shape[0] * z.shape[1] * z.shape[2]
            new_state[f"{bn}.running_mean"] = (1 - MOMENTUM) * state[f"{bn}.running_mean"] + MOMENTUM * mean
            new_state[f"{bn}.running_var"] = (1 - MOMENTUM) * state[f"{bn}.running_var"] + MOMENTUM * var * n / (n - 1)
            return (z - mean) / jnp.sqrt(var + EPS) * g + b
        # Inference: BatchNorm folded into the conv, as cimpool folds it, so
        # the projection sees the weights cimpool compresses.
        k = g / jnp.sqrt(state[f"{bn}.running_var"] + EPS)
        folded = w * k[:, None, None, None]
        cols = folded.transpose(0, 2, 3, 1).reshape(cout, -1)  # (ky, kx, c) order
        cols = straight_through(cols, proj)
        folded = cols.reshape(cout, w.shape[2], w.shape[3], w.shape[1]).transpose(0, 3, 1, 2)
        return conv_of(folded) + (b - state[f"{bn}.running_mean"] * k)

    def apply(self, params, state, x, train, proj=None):
        specs = {s[0]: s for s in self.convs()}
        new_state = dict(state)
        cb = lambda name, h: self.conv_bn(params, state, new_state, h, specs[name], train, proj)
        h = jax.nn.relu(cb("conv1", x))
        for name, cin, cout, s in self.blocks:
            y = jax.nn.relu(cb(f"{name}.conv1", h))
            y = cb(f"{name}.conv2", y)
            short = cb(f"{name}.downsample.0", h) if f"{name}.downsample.0" in specs else h
            h = jax.nn.relu(y + short)
        h = h.mean(axis=(1, 2))
        w = straight_through(params["fc.weight"], proj)
        return h @ w.T + params["fc.bias"], new_state


class ResNet20(ResNet):
    """`cimpool model resnet20-fmnist`: three basic blocks a stage (0.27 M weights)."""

    depth = 3


NETS = {"mlp": Mlp, "resnet": ResNet, "resnet20": ResNet20}


# ---------------------------------------------------------------- training


def accuracy(net, params, state, x, y, proj=None, batch=1000):
    f = jax.jit(lambda p, s, xb: net.apply(p, s, xb, False, proj)[0].argmax(axis=1))
    hits = sum(int((f(params, state, x[i : i + batch]) == y[i : i + batch]).sum()) for i in range(0, len(y), batch))
    return hits / len(y)


def fit(net, params, state, x, y, epochs, lr, batch, seed, train_mode, proj=None, checkpoint=None, stop_after=None):
    """Adam with cosine decay over `epochs`. With `checkpoint` (a path),
    everything the run depends on (weights, BatchNorm statistics, the
    optimizer, the epoch, the step, the shuffling generator as the epoch
    began) is written there atomically every checkpoint.EVERY steps (tools/checkpoint.py) and at
    each epoch's end, and a later call with the same arguments resumes from
    it: the order of batches and every update are the ones an uninterrupted
    run makes. `stop_after` steps (this call's) ends early, as an
    interruption would (tests). Returns (params, state), or None if stopped."""
    per_epoch = len(y) // batch
    steps = epochs * per_epoch
    opt = optax.adam(optax.cosine_decay_schedule(lr, steps))
    opt_state = opt.init(params)

    def loss(p, s, xb, yb):
        logits, s2 = net.apply(p, s, xb, train_mode, proj)
        return optax.softmax_cross_entropy_with_integer_labels(logits, yb).mean(), s2

    @jax.jit
    def step(p, s, o, xb, yb):
        (l, s2), g = jax.value_and_grad(loss, has_aux=True)(p, s, xb, yb)
        updates, o = opt.update(g, o, p)
        return optax.apply_updates(p, updates), s2, o, l

    rng = np.random.default_rng(seed)
    ck = Checkpoint(checkpoint, {"net": type(net).__name__, "samples": len(y), "epochs": epochs, "lr": lr, "batch": batch, "seed": seed, "train_mode": train_mode})
    first_epoch, first_step, total = 0, 0, 0.0
    saved = ck.load()
    if saved:
        params, state, opt_state = (to_device(saved[k]) for k in ("params", "state", "opt_state"))
        first_epoch, first_step, total = saved["epoch"], saved["step"], saved["total"]
        rng.bit_generator.state = saved["rng"]
        print(f"resuming {checkpoint}: epoch {first_epoch + 1}/{epochs}, step {first_step}/{per_epoch}", flush=True)

    def write_checkpoint(epoch, at, rng_state, total):
        ck.save({"params": to_host(params), "state": to_host(state), "opt_state": to_host(opt_state), "epoch": epoch, "step": at, "rng": rng_state, "total": total})

    done_here, t_run = 0, time.time()
    for epoch in range(first_epoch, epochs):
        t0, t_print = time.time(), time.time()
        rng_state = rng.bit_generator.state
        order = rng.permutation(len(y))
        start = first_step if epoch == first_epoch else 0
        if epoch != first_epoch or start == 0:
            total = 0.0
        for i in range(start, per_epoch):
            idx = order[i * batch : (i + 1) * batch]
            params, state, opt_state, l = step(params, state, opt_state, x[idx], y[idx])
            total += float(l)
            done_here += 1
            if (i + 1) % CHECKPOINT_EVERY == 0 and i + 1 < per_epoch:
                write_checkpoint(epoch, i + 1, rng_state, total)
            if time.time() - t_print >= 30:
                t_print = time.time()
                rate = done_here * batch / (t_print - t_run)
                left = (steps - epoch * per_epoch - i - 1) * batch / rate
                print(f"  epoch {epoch + 1}/{epochs} step {i + 1}/{per_epoch}: loss {total / (i + 1):.4f}, {rate:.0f} images/s, ETA {left / 60:.0f} min", flush=True)
            if stop_after is not None and done_here >= stop_after:
                write_checkpoint(epoch, i + 1, rng_state, total)
                print(f"stopped after {done_here} steps (epoch {epoch + 1}, step {i + 1})", flush=True)
                return None
        print(f"epoch {epoch + 1}/{epochs}: loss {total / per_epoch:.4f} ({time.time() - t0:.0f} s)", flush=True)
        write_checkpoint(epoch + 1, 0, rng.bit_generator.state, 0.0)
    return params, state


def save(path, params, state):
    np.savez(path, **{k: np.asarray(v, dtype=np.float32) for k, v in {**params, **state}.items()})
    print(f"wrote {path}")


def restore(net, path):
    t = np.load(path)
    params, state = net.init(jax.random.PRNGKey(0))
    params = {k: jnp.asarray(t[k]) for k in params}
    state = {k: jnp.asarray(t[k]) for k in state}
    return params, state


def table(out, nets, keeps, suffix=""):
    """The Markdown table of a `make fmnist` run, from cimpool's reports
    (report.json of compress, the accuracy line of run); suffix: the
    fine-tuning folders' FT_SUFFIX (ft-<keep><suffix>)."""

    def golden(run_log):
        m = re.search(r"accuracy ([0-9.]+)%", Path(run_log).read_text())
        return float(m.group(1))

    print("| network | keep ratio | bits / weight | vs 8-bit | float | post-training, float arithmetic / golden integer | fine-tuned (`make train`), golden integer |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for net in nets:
        for k in keeps:
            # ft-<k><suffix> is a `make train` folder: its images, and the
            # golden accuracy that equals training's.
            pt, ft = Path(out) / net / f"pt-{k}", Path(out) / net / f"ft-{k}{suffix}"
            r = json.loads((pt / "report.json").read_text())
            f = json.loads((ft / "images" / "report.json").read_text())
            b = f["bits_per_weight"]
            print(
                f"| {net} | {k} | {b['total']:.3f} | {b['vs_8bit']:.1f}x | {100 * r['accuracy']['float']:.2f}% "
                f"| {100 * r['accuracy']['compressed_float']:.2f}% / {golden(pt / 'run.log'):.2f}% "
                f"| **{golden(ft / 'golden.log'):.2f}%** |"
            )


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("command", choices=("train", "finetune", "subset", "table"))
    ap.add_argument("--net", choices=tuple(NETS), default="mlp")
    ap.add_argument("--data", type=Path, default=DATA, help="folder of the Fashion-MNIST IDX files")
    ap.add_argument("--weights", help="float weights to start from (finetune)")
    ap.add_argument("--pool", help="pool.npy written by cimpool compress (finetune, pool engine)")
    ap.add_argument("--images", help="images of a `cimpool compress --engine dense` run (finetune, dense engine)")
    ap.add_argument("--keep", type=float, default=0.5, help="keep ratio the hardware images will use")
    ap.add_argument("--epochs", type=int)
    ap.add_argument("--lr", type=float)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--count", type=int, default=300, help="test images in the subset")
    ap.add_argument("--nets", nargs="+", default=list(NETS), help="networks in the table")
    ap.add_argument("--suffix", default="", help="table: the fine-tuning folders are ft-<keep><suffix> (make fmnist FT_SUFFIX)")
    ap.add_argument("--keeps", nargs="+", default=["0.3", "0.5", "0.75", "1"], help="keep ratios in the table")
    ap.add_argument("--checkpoint", help="train: write a checkpoint here as training goes, and resume from it if it exists")
    ap.add_argument("--stop-after", type=int, help="train: stop after this many steps, as an interruption would (with --checkpoint)")
    ap.add_argument("--train-samples", type=int, help="train: the first n training images only (tests)")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()

    if args.command == "table":
        table(args.out, args.nets, args.keeps, args.suffix)
        return

    if args.command == "subset":
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        for split, n in (("t10k", args.count),):
            write_idx(out / f"{split}-images-idx3-ubyte.gz", read_idx(args.data / f"{split}-images-idx3-ubyte.gz")[:n])
            write_idx(out / f"{split}-labels-idx1-ubyte.gz", read_idx(args.data / f"{split}-labels-idx1-ubyte.gz")[:n])
        # Calibration images for cimpool compress: the first 256 training images.
        calib = read_idx(args.data / "train-images-idx3-ubyte.gz")[:256]
        np.savez_compressed(out / "calib.npz", x=calib.reshape(len(calib), 1, 28, 28))
        print(f"wrote {out}: {args.count} test images and labels (IDX), calib.npz (256 training images)")
        return

    net = NETS[args.net]()
    x_train, y_train = load("train", args.data)
    x_test, y_test = load("t10k", args.data)
    if args.command == "train":
        if args.train_samples:
            x_train, y_train = x_train[: args.train_samples], y_train[: args.train_samples]
        epochs = args.epochs or (20 if args.net == "mlp" else 10)
        params, state = net.init(jax.random.PRNGKey(args.seed))
        fitted = fit(net, params, state, x_train, y_train, epochs, args.lr or 1e-3, args.batch, args.seed, True,
                     checkpoint=args.checkpoint, stop_after=args.stop_after)
        if fitted is None:
            return
        params, state = fitted
        print(f"float test accuracy {100 * accuracy(net, params, state, x_test, y_test):.2f}% ({len(y_test)} images)")
    else:
        if not args.weights or bool(args.pool) == bool(args.images):
            sys.exit("finetune needs --weights and one of --pool (pool engine) or --images (dense engine)")
        if args.pool:
            pool = jnp.asarray(np.load(args.pool).astype(np.float32))
            proj, what = (lambda w: project(w, pool, args.keep)), f"keep {args.keep}"
        else:
            c = dense_config(args.images)
            proj, what = (lambda w: dense_project(w, c)), f"dense {c['w_bits']}-bit, sparsity {c['sparsity']}"
        params, state = restore(net, args.weights)
        before = accuracy(net, params, state, x_test, y_test, proj)
        print(f"before: test accuracy with compressed weights {100 * before:.2f}% ({what})")
        epochs = args.epochs or (30 if args.net == "mlp" else 15)
        # BatchNorm statistics stay frozen: they are folded into what is compressed.
        params, state = fit(net, params, state, x_train, y_train, epochs, args.lr or 1e-3, args.batch, args.seed, False, proj)
        after = accuracy(net, params, state, x_test, y_test, proj)
        print(f"after {epochs} epochs: test accuracy with compressed weights {100 * after:.2f}% ({what})")
    save(args.out, params, state)


if __name__ == "__main__":
    main()
