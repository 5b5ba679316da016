"""cimpool's projections of float weights onto what its engines hold, in numpy.

Used by the training tool (adc_train.py); each mirrors the Rust code it
names, so weights trained through it compress to the same effective
weights:
  pool_parts             src/compress/residual.rs (pool engine, crossbar = "mux")
  DenseProjection        src/compress/dense.rs (dense engine)
"""
import json
import tomllib
from pathlib import Path

import numpy as np


def rust_dot(a, b):
    """src/network/float.rs `dot`, bit for bit: float32 products summed in
    eight sequential lanes, then the lanes in order, then the tail's sum
    added. Sliced adds in that order: a cumulative sum gives the same
    numbers 5x slower (it writes every partial sum)."""
    prod = a * b
    if prod.dtype != np.float32:
        prod = prod.astype(np.float32)
    n = prod.shape[-1]
    body = n - n % 8
    tail = None
    for j in range(body, n):
        tail = prod[..., j].copy() if tail is None else tail + prod[..., j]
    if not body:
        return tail
    lanes = prod[..., 0:8].copy()
    for k in range(8, body, 8):
        lanes += prod[..., k : k + 8]
    total = lanes[..., 0].copy()
    for j in range(1, 8):
        total += lanes[..., j]
    return total if tail is None else total + tail


def sequential_sum(x):
    """A float64 sum in order, as Rust's iterator sum."""
    return np.cumsum(np.asarray(x, dtype=np.float64).ravel())[-1] if np.size(x) else 0.0


def pool_parts(w, pool, keep, choices=None, moments=None):
    """A pool-engine layer from its float weights w (out, fan-in, columns in
    the engine's (ky, kx, c) order) against pool (P, R) of +-1: the pool
    vector of every (channel, row block) (out, blocks, R), the error signs
    (same shape, +-1), the kept error tiles (out, blocks), alpha, beta and
    the pool index of every (channel, row block) (out, blocks). `choices`
    (index, mask) pins the indices and kept tiles instead, as
    `cimpool compress --choices` does. `moments` (fan-in,): prune by output
    effect (`compress --prune-by-output`), each residual square weighted
    by its input column's mean square.
    Every sum is taken in src/compress/residual.rs's order and precision, so
    near ties (assignment, error signs, tile energies) fall the same way."""
    out, fan_in = w.shape
    rows = pool.shape[1]
    blocks = -(-fan_in // rows)
    v = np.zeros((out, blocks * rows), dtype=np.float32)
    v[:, :fan_in] = w
    v = v.reshape(out, blocks, rows)
    real = np.zeros(blocks * rows, dtype=bool)
    real[:fan_in] = True
    real = real.reshape(blocks, rows)
    scores = rust_dot(v[:, :, None, :], pool[None, None, :, :])  # (out, blocks, P)
    idx = np.argmax(scores, axis=2) if choices is None else choices[0]  # first of equal scores, as cimpool
    p = pool[idx]
    count = out * fan_in
    alpha = np.float32(sequential_sum(np.take_along_axis(scores, idx[:, :, None], axis=2)) / count)
    r = (v - alpha * p).astype(np.float32)
    block_abs = np.cumsum(np.abs(r * real).astype(np.float64), axis=2)[:, :, -1]
    beta = np.float32(sequential_sum(block_abs) / count)
    sq = ((r * real) * (r * real)).astype(np.float32).astype(np.float64)
    if moments is not None:
        m = np.zeros(blocks * rows)
        m[:fan_in] = moments
        sq = sq * m.reshape(blocks, rows)
    energy = np.cumsum(sq, axis=2)[:, :, -1]  # (out, blocks)
    tiles = out * blocks
    kept = min(int(np.floor(keep * tiles + 0.5)), tiles)
    cs, bs = np.meshgrid(np.arange(out), np.arange(blocks), indexing="ij")
    order = np.lexsort((bs.ravel(), cs.ravel(), -energy.ravel()))
    mask = np.zeros(tiles, dtype=bool)
    mask[order[:kept]] = True
    mask = mask.reshape(out, blocks) if choices is None else choices[1].astype(bool)
    e = np.where(r >= 0, 1.0, -1.0).astype(np.float32)
    return p, e, mask, alpha, beta, idx


def round_half_away(x):
    """Rust's f32::round (numpy's np.round rounds half to even). Not
    floor(|x| + 0.5): that sum rounds, and 0.49999997 + 0.5 is 1.0 in
    float32 (a trained weight at 0.49999997 steps became 1 here and 0 in
    compress). |x| - floor(|x|) is exact."""
    a = np.abs(x)
    f = np.floor(a)
    return np.sign(x) * (f + (a - f >= 0.5))


class DenseProjection:
    """The dense engine's effective weights (src/compress/dense.rs)."""

    def __init__(self, images):
        images = Path(images)
        c = tomllib.loads((images / "cim_config.toml").read_text())
        if c["engine"] != "dense":
            raise SystemExit(f"{images}: engine = {c['engine']!r}, not a dense engine's images")
        report = json.loads((images / "report.json").read_text())
        self.sparsity = report["sparsity"]
        self.w_bits = c["w_bits"]
        self.rows = c["rows"]
        self.wl = c["wl_parallel"] or c["rows"]
        self.lanes = c["macros"] * (c["cols"] // self.w_bits)
        phases = self.rows // self.wl
        self.slots = (c["slots"] or phases) if c["sparsity"] == "compact" else phases

    def parts(self, w, moments=None):
        """The kept integer weights (0 in pruned units) and the step.
        `moments` (fan-in,): units ranked by output effect, each square
        weighted by its input column's mean square, summed in
        src/compress/dense.rs's order (channels, then columns)."""
        out, fan_in = w.shape
        rows, wl, lanes = self.rows, self.wl, self.lanes
        qmax = np.float32((1 << (self.w_bits - 1)) - 1)
        step = max(np.float32(np.abs(w).max()), np.float32(1e-12)) / qmax
        q = np.clip(round_half_away(w.astype(np.float32) / step), -qmax, qmax)
        phases, blocks, passes = rows // wl, -(-fan_in // rows), -(-out // lanes)
        units = []  # (energy, pass, block, h) of the units holding real weights
        for ps in range(passes):
            ch = q[ps * lanes : (ps + 1) * lanes]
            for b in range(blocks):
                for h in range(phases):
                    lo = b * rows + h * wl
                    if lo < fan_in:
                        hi = min(lo + wl, fan_in)
                        if moments is None:
                            energy = float((ch[:, lo:hi] ** 2).sum())
                        else:
                            energy = float(np.cumsum(((ch[:, lo:hi].astype(np.float64) ** 2) * moments[lo:hi]).ravel())[-1])
                        units.append((energy, ps, b, h))
        target = max(int(np.floor((1.0 - self.sparsity) * len(units) + 0.5)), min(1, len(units)))
        units.sort(key=lambda u: (-u[0], u[1], u[2], u[3]))
        used, kept, mask = {}, 0, np.zeros_like(q)
        for energy, ps, b, h in units:
            if kept == target:
                break
            if used.get((ps, b), 0) == self.slots:
                continue
            if energy > 0:
                used[(ps, b)] = used.get((ps, b), 0) + 1
                kept += 1
                lo = b * rows + h * wl
                mask[ps * lanes : (ps + 1) * lanes, lo : min(lo + wl, fan_in)] = 1
        return q * mask, step
