#!/usr/bin/env python3
"""ADC-aware training (Lin & Chang, stage 2): trains through the hardware's exact partial sums and learns each layer's ADC step (JAX).

The forward pass is the engine's own integer arithmetic (docs/SPEC.md
sections 2-4, 6): per layer, im2col, the bit planes of the 8-bit inputs, per
compute phase of W word lines the column sums S of the cells, the ADC with
the layer's step 2^adc_shift and mode, the engine's recombination (2A - Np
for the pool engine's +-1 cells, the weight-bit weights for the dense
engine), the accumulators, the scale word's requantization; the host's
operations between layers as the golden model does them. With an exact
read-out (no lossy ADC) the recombined planes of a phase are its integer
product, computed directly (`--bit-planes` keeps the planes). Given the integers
of a set of memory images (`cimpool export`), it reproduces the golden
model's outputs exactly: `check` tests that on every sample.

Training keeps that forward pass and adds gradients:
- weights and inputs: straight-through, as the gradient of the exact
  product of the inputs with the float effective weights (the effective
  weights are the projection cimpool's compress makes of the current float
  weights: the pool engine's fixed pool, or the dense engine's w_bits
  quantization and block pruning, tools/projection.py);
- the ADC step: LSQ (Esser et al., ICLR 2020), restricted to powers of two:
  each layer learns a real log2 step that the forward pass rounds to the
  integer adc_shift the hardware's scale word holds; the conversions give
  the LSQ gradient (round(S/step) - S/step inside the range, the top code
  when clamped) with S fixed;
- rounding in the requantizer and pooling: straight-through, clamping
  passes no gradient.
The integer scales (alpha, beta, the shift, biases) are re-derived from the
float weights at every step with src/compress/scales.rs's rule and the
activation scales of the images; the pool and those activation scales stay
fixed. The trained weights (the model's own tensor names) and the learned
steps (`--shifts`, JSON) go back through
`cimpool compress --pool <same pool> --adc-shifts <shifts>`.

  cimpool export --images DIR --out DIR/engine.npz
  cimpool run --images DIR --data test.npz --outputs golden.npy
  python3 adc_train.py check --images DIR --export DIR/engine.npz --data test.npz --golden golden.npy
  python3 adc_train.py gradcheck   # the hand-written ADC step gradient vs automatic differentiation
  python3 adc_train.py refinecheck # the choice of refined ADC shifts on made-up scores
  python3 adc_train.py train --images DIR --export DIR/engine.npz --weights float.npz \
      --pool DIR/pool.npy --keep 0.5 --train train.npz --data test.npz --out trained.npz --shifts shifts.json
  python3 adc_train.py bench --images DIR --export DIR/engine.npz --weights float.npz \
      --pool DIR/pool.npy --keep 0.5 --train train.npz --data test.npz   # images/s of each training step (make train-bench)

Networks whose engine layers carry no BatchNorm in their description (the
weights are `<layer>.weight` and `<layer>.bias`) are supported; for others,
`cimpool compress --write-folded` writes the folded network to use. `train`
first checks that its projection of the given weights rebuilds the images'
integers exactly and refuses otherwise. `make adc-train` runs the chain.
"""
import argparse
import copy
import functools
import json
import sys
import time
import tomllib
from pathlib import Path

import jax
import numpy as np

jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp  # noqa: E402
import optax  # noqa: E402

from checkpoint import EVERY as CHECKPOINT_EVERY, Checkpoint, digest, to_device, to_host  # noqa: E402
from projection import DenseProjection, pool_parts  # noqa: E402

sg = jax.lax.stop_gradient


def bits(n):
    """bits(n) of docs/SPEC.md: the bits that hold 0..n."""
    return int(n).bit_length()


def round_half_away(x):
    """Rust's f64::round: half away from zero, exactly (see projection.py)."""
    a = np.abs(x)
    f = np.floor(a)
    return np.sign(x) * (f + (a - f >= 0.5))


# ---------------------------------------------------------------- hardware


class Hardware:
    def __init__(self, images):
        c = tomllib.loads((Path(images) / "cim_config.toml").read_text())
        self.c = c
        self.dense = c["engine"] == "dense"
        self.rows = c["rows"]
        self.wl = c["wl_parallel"] or c["rows"]
        self.adc_bits = c["adc_bits"]
        self.mode = c["adc_mode"]
        self.act_bits = c["act_bits"]
        self.out_bits = c["out_bits"]
        self.w_bits = c["w_bits"]
        self.lossy = 0 < self.adc_bits < bits(self.wl)
        # Training: give clamped ADC codes no gradient (--adc-grad clamp).
        self.clamp_grad = False
        # Evaluate an exact read-out through the bit planes too (--bit-planes).
        self.force_planes = False
        self.max_shift = bits(self.wl) - self.adc_bits if self.lossy else 0
        if c["act_signed"]:
            fail(f"{images}: act_signed = true; the network inputs of engine layers are unsigned")


def requantize(v, shift, relu, out_bits):
    """Section 3's output step: exact forward, straight-through backward."""
    r = v / 2.0**shift
    y = jnp.floor(r + 0.5) if shift > 0 else r
    lo, hi = (0, (1 << out_bits) - 1) if relu else (-(1 << (out_bits - 1)), (1 << (out_bits - 1)) - 1)
    inside = sg(((y >= lo) & (y <= hi)).astype(r.dtype))
    return sg(jnp.clip(y, lo, hi)) + (r - sg(r)) * inside


def im2col(x, g):
    """(N, H, W, C) maps -> (N, oh, ow, kh*kw*C) vectors, (ky, kx, c) order."""
    p, s = g["padding"], g["stride"]
    x = jnp.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))
    oh, ow = g["out_h"], g["out_w"]
    cols = [x[:, ky : ky + s * (oh - 1) + 1 : s, kx : kx + s * (ow - 1) + 1 : s, :] for ky in range(g["kernel_h"]) for kx in range(g["kernel_w"])]
    return jnp.concatenate(cols, axis=-1)


def bit_planes(xi, hw, width):
    """(M, fan_in) integer inputs -> (phases, M * act_bits, W) float32 bit
    planes, phase-major so that one batched product serves every phase."""
    m, fan_in = xi.shape
    ph = width // hw.wl
    v = jnp.pad(xi.astype(jnp.int32), ((0, 0), (0, width - fan_in))).reshape(m, ph, hw.wl).transpose(1, 0, 2)
    return jnp.stack([(v >> t) & 1 for t in range(hw.act_bits)], axis=2).astype(jnp.float32).reshape(ph, m * hw.act_bits, hw.wl)


def column_sums(planes, cells, hw):
    """Bit planes (H, M*T, W), cells (O, H*W) -> S (H, M*T, O): the rows of
    each phase whose input bit and cell are 1 (float32, exact: at most W)."""
    ph = planes.shape[0]
    c = cells.reshape(cells.shape[0], ph, hw.wl).transpose(1, 2, 0)
    return jax.lax.dot_general(planes, c, (((2,), (1,)), ((0,), (0,))))


def plane_sums(a, m, hw):
    """(H, M*T, O) per-plane values -> (H, M, O): sum over t of 2^t a (exact in float32,
    at most 255 W), then float64 for the sums over phases."""
    ph, _, o = a.shape
    w = jnp.array([2.0**t for t in range(hw.act_bits)], dtype=jnp.float32)
    return (a.reshape(ph, m, hw.act_bits, o) * w[:, None]).sum(2).astype(jnp.float64)


ADC_MODES = ("floor_clamp", "round_clamp", "round_even_clamp")


def adc_top(hw):
    """The ADC's top code."""
    return float((1 << hw.adc_bits) - 1)


def adc_code(r, mode):
    """The ADC's code of r = S / step before the clamp (docs/SPEC.md
    section 2): floor, nearest with a tie up, or nearest with a tie to the
    even code (jnp.round rounds half to even). r is exact in float32: S
    is an integer up to W and the step a power of two."""
    if mode == "round_even_clamp":
        return jnp.round(r)
    return jnp.floor(r + (0.5 if mode == "round_clamp" else 0.0))


def adc_sums(s, step, m, hw):
    """The ADC of docs/SPEC.md section 2 on column sums s (H, M*T, O) with step
    2^adc_shift, summed over the bit planes (plane_sums): (H, M, O).

    The column sums are constants; the step gets LSQ's gradient (Esser et
    al. 2020): d(ADC)/d(step) = round(S/step) - S/step inside the range
    (every code 0..top that needs no clamping), the top code above it, 0
    below. That derivative is summed over the planes in the forward pass (a
    custom VJP), so the backward pass reads a tensor T times smaller than
    the conversions instead of differentiating through them. float32 is
    exact: every value is a multiple of the step up to W."""
    if not hw.lossy:
        return plane_sums(s, m, hw)
    top = adc_top(hw)

    def both(s, step):
        r = s / step
        q = adc_code(r, hw.mode)
        d = jnp.where(q < 0, 0.0, jnp.where(q > top, top, q - r))
        return plane_sums(jnp.clip(q, 0.0, top) * step, m, hw), plane_sums(d, m, hw)

    @jax.custom_vjp
    def converted(s, step):
        return both(s, step)[0]

    def backward(d, g):
        return None, jnp.sum(g * d).astype(jnp.float32)

    converted.defvjp(both, backward)
    return converted(s, jnp.asarray(step).astype(jnp.float32))


def in_range(s, step, m, hw):
    """Column sums s (H, M*T, O) -> (H, M, O): the share of each value's
    conversions, plane t weighted 2^t as in the recombination, whose ADC code
    needs no clamping. A constant (no gradient)."""
    top = adc_top(hw)
    q = adc_code(sg(s) / sg(jnp.asarray(step).astype(jnp.float32)), hw.mode)
    ok = ((q >= 0) & (q <= top)).astype(jnp.float32)
    return sg(plane_sums(ok, m, hw) / float((1 << hw.act_bits) - 1))


def clamp_aware_product(x, w, share, hw, width):
    """x (M, fan_in) @ w (O, fan_in).T with each phase's part scaled by
    share (H, M, O): LSQ's input gradient (1 inside the ADC's range, 0 for a
    clamped code) carried to the weights and inputs of each phase of W word
    lines. With share = 1 it is the exact product."""
    ph = share.shape[0]
    f = x.shape[1]
    xh = jnp.pad(x, ((0, 0), (0, width - f))).reshape(x.shape[0], ph, hw.wl).transpose(1, 0, 2)
    wh = jnp.pad(w, ((0, 0), (0, width - f))).reshape(w.shape[0], ph, hw.wl).transpose(1, 0, 2)
    return (jnp.einsum("hmk,hok->hmo", xh, wh) * share).sum(0)


def phase_products(xi, cells, hw, width, largest):
    """Integer inputs xi (M, fan_in) and signed integer cell values cells
    (O, width), |cell| <= largest -> (H, M, O) float64: each phase's exact
    product. With an exact read-out the ADC passes every column sum S_t, so
    the recombination sum_t 2^t S_t of a phase is this product: one product
    per phase instead of one per input bit (and weight bit). float32 is
    exact while no partial sum can pass 2^24; float64 otherwise."""
    m, fan_in = xi.shape
    ph = width // hw.wl
    dt = jnp.float32 if ((1 << hw.act_bits) - 1) * largest * hw.wl < 2**24 else jnp.float64
    xh = jnp.pad(xi.astype(dt), ((0, 0), (0, width - fan_in))).reshape(m, ph, hw.wl).transpose(1, 0, 2)
    ch = jnp.asarray(cells).astype(dt).reshape(cells.shape[0], ph, hw.wl).transpose(1, 0, 2)
    return jax.lax.dot_general(xh, ch, (((2,), (2,)), ((0,), (0,)))).astype(jnp.float64)


def engine_layer(x, L, hw, step, train):
    """One engine layer on input vectors x (M, fan_in): its output integers
    (M, out) as float64, with the gradients described at the top."""
    m = x.shape[0]
    xi = sg(x)
    share = None
    # A lossy ADC converts each bit plane's column sums; an exact read-out
    # needs only each phase's product (phase_products), unless the bit
    # planes are asked for (--bit-planes: the reference path).
    planewise = hw.lossy or hw.force_planes
    if L["host"]:
        v = L["alpha"] * (xi @ L["weight"].T) + L["bias"]
    elif hw.dense:
        # Every weight bit's cells in one product: columns j * O + o.
        wb = L["weight_bits"]
        nb, o = wb.shape[0], wb.shape[1]
        bit_w = jnp.array([-(2.0**j) if j == nb - 1 else 2.0**j for j in range(nb)])
        if planewise:
            s = column_sums(bit_planes(xi, hw, L["width"]), wb.reshape(nb * o, -1), hw)
            y = adc_sums(s, step, m, hw)
            if train and hw.clamp_grad and hw.lossy:
                ins = in_range(s, step, m, hw).reshape(y.shape[0], m, nb, o)
                share = jnp.einsum("hmjo,j->hmo", ins, jnp.abs(bit_w).astype(jnp.float32)) / float(2**nb - 1)
            acc = jnp.einsum("hmjo,j->mo", y.reshape(y.shape[0], m, nb, o), bit_w)
        else:
            # The two's-complement weights the bits hold.
            w = jnp.einsum("j,jok->ok", bit_w, jnp.asarray(wb, jnp.float64))
            acc = phase_products(xi, w, hw, L["width"], 2 ** (nb - 1)).sum(0)
        v = L["alpha"] * acc + L["bias"]
    else:
        # Pool and error cells in one product: columns o, then O + o.
        o = L["pool_bits"].shape[0]
        cells = jnp.concatenate([jnp.asarray(L["pool_bits"]), jnp.asarray(L["error_bits"])], axis=0)
        if planewise:
            planes = bit_planes(xi, hw, L["width"])
            np_ = plane_sums(planes.sum(-1, keepdims=True), m, hw)
            s = column_sums(planes, cells, hw)
            y = 2.0 * adc_sums(s, step, m, hw) - np_
        else:
            # 2 A - Np of a phase is its product with the +-1 cells.
            y = phase_products(xi, 2.0 * cells - 1.0, hw, L["width"], 1)
        acc_p = y[..., :o].sum(0)
        acc_e = jnp.einsum("hmo,ho->mo", y[..., o:], L["phase_mask"])
        v = L["alpha"] * acc_p + L["beta"] * acc_e + L["bias"]
        if train and hw.clamp_grad and hw.lossy:
            # Pool and error parts weighted by their scales.
            ins = in_range(s, step, m, hw)
            a = jnp.abs(jnp.asarray(L["alpha"], jnp.float32))
            b = jnp.abs(jnp.asarray(L["beta"], jnp.float32)) * jnp.asarray(L["phase_mask"], jnp.float32)[:, None, :]
            den = a + b
            share = jnp.where(den > 0, (a * ins[..., :o] + b * ins[..., o:]) / jnp.where(den > 0, den, 1.0), 1.0)
    if train and "eff" in L:
        # Straight-through for weights and inputs: the exact product's
        # gradient (every engine layer; a host layer only under --train-host,
        # the only time it has effective weights).
        # float32: it carries only gradients, and the maps are large.
        xf, wf = x.astype(jnp.float32), (L["eff"] * L["k"]).astype(jnp.float32)
        prod = (xf @ wf.T if share is None else clamp_aware_product(xf, wf, share, hw, L["width"])).astype(jnp.float64) + L["bias_f"] * L["kb"]
        v = v + (prod - sg(prod))
    return requantize(v, L["shift"], L["relu"], hw.out_bits)


def forward(manifest, layers, hw, steps, x, train):
    """The network on integer inputs x (N, C*H*W in PyTorch order): the last
    node's integer outputs (float64)."""
    i = manifest["input"]
    maps = {"input": x.reshape(-1, i["c"], i["h"], i["w"]).transpose(0, 2, 3, 1).astype(jnp.float64)}
    for node in manifest["nodes"]:
        a = maps[node["inputs"][0]]
        op = node["op"]
        if op == "layer":
            li = node["layer"]
            L = layers[li]
            g = manifest["layers"][li]["geometry"]
            cols = im2col(a, g)
            n, oh, ow, f = cols.shape
            y = engine_layer(cols.reshape(-1, f), L, hw, steps[li], train)
            out = y.reshape(n, oh, ow, -1)
        elif op == "max_pool":
            w = node["window"]
            p = w["padding"]
            a = jnp.pad(a, ((0, 0), (p, p), (p, p), (0, 0)), constant_values=-jnp.inf)
            out = jax.lax.reduce_window(a, -jnp.inf, jax.lax.max, (1, w["kernel_h"], w["kernel_w"], 1), (1, w["stride"], w["stride"], 1), "VALID")
        elif op == "avg_pool":
            w = node["window"]
            n_ = w["kernel_h"] * w["kernel_w"]
            s = jax.lax.reduce_window(a, 0.0, jax.lax.add, (1, w["kernel_h"], w["kernel_w"], 1), (1, w["stride"], w["stride"], 1), "VALID")
            out = sg(jnp.floor((2 * s + n_) / (2 * n_))) + (s / n_ - sg(s / n_))
        elif op == "add":
            ad = node["add"]
            b = maps[node["inputs"][1]]
            out = requantize(ad["ma"] * a + ad["mb"] * b, ad["k"], node["relu"], hw.out_bits)
        elif op == "flatten":
            out = a.transpose(0, 3, 1, 2).reshape(a.shape[0], 1, 1, -1)
        elif op == "concat":
            # docs/SPEC.md 4.1: each input at the output scale, channel blocks in order.
            cc = node["concat"]
            signed = node["signed"]
            parts = [requantize(m * maps[src], cc["k"], not signed, hw.out_bits) for m, src in zip(cc["m"], node["inputs"])]
            out = jnp.concatenate(parts, axis=-1)
        else:
            sys.exit(f"unknown node op {op!r} in the manifest")
        maps[node["name"]] = out
    return out.reshape(out.shape[0], -1)


def forward_float(manifest, layers, x, im2col_products=False):
    """The network in float arithmetic on integer inputs x: the effective
    weights cimpool would make of the current float weights (straight
    through), no activation quantization, no ADC. Stage 1 of `make train`
    (--arith float): the weights settle against the pool or the dense
    quantization before the integer path's fixed activation scales are
    calibrated on them.

    In float32 (the data are float64 for the exact integer path), and an
    engine convolution is one XLA convolution of its effective weights
    (their (ky, kx, c) fan-in order is HWIO's): float64 im2col products
    ran the residual CNN's float stage at a third of the speed
    (docs/COMPRESSION.md, "Training speed"). im2col_products=True takes
    the im2col vectors times the weights instead, the integer path's
    layout; `check` compares the two."""
    i = manifest["input"]
    a0 = x.reshape(-1, i["c"], i["h"], i["w"]).transpose(0, 2, 3, 1).astype(jnp.float32) * jnp.float32(manifest["input_scale"])
    maps = {"input": a0}
    for node in manifest["nodes"]:
        a = maps[node["inputs"][0]]
        op = node["op"]
        if op == "layer":
            li = node["layer"]
            L, l = layers[li], manifest["layers"][li]
            g = l["geometry"]
            # A host layer under --train-host has effective weights like an engine layer's.
            as_host = L["host"] and "eff" not in L
            if not as_host and not im2col_products and g["kernel_h"] * g["kernel_w"] > 1:
                k = L["eff"].reshape(-1, g["kernel_h"], g["kernel_w"], g["in_c"]).transpose(1, 2, 3, 0).astype(jnp.float32)
                pad = [(g["padding"], g["padding"])] * 2
                v = jax.lax.conv_general_dilated(a, k, (g["stride"], g["stride"]), pad, dimension_numbers=("NHWC", "HWIO", "NHWC")) + L["bias_f"]
            else:
                cols = im2col(a, g)
                n, oh, ow, f = cols.shape
                c = cols.reshape(-1, f)
                if as_host:
                    # The host's 8-bit weights as they are: their integers in
                    # the output's units, then the output scale.
                    v = ((L["alpha"] * ((c / l["input_scale"]) @ L["weight"].T) + L["bias"]) / 2.0 ** L["shift"] * l["output_scale"]).astype(jnp.float32)
                else:
                    v = c @ L["eff"].T + L["bias_f"]
                v = v.reshape(n, oh, ow, -1)
            out = jnp.maximum(v, 0.0) if L["relu"] else v
        elif op == "max_pool":
            w = node["window"]
            p = w["padding"]
            a = jnp.pad(a, ((0, 0), (p, p), (p, p), (0, 0)), constant_values=-jnp.inf)
            out = jax.lax.reduce_window(a, -jnp.inf, jax.lax.max, (1, w["kernel_h"], w["kernel_w"], 1), (1, w["stride"], w["stride"], 1), "VALID")
        elif op == "avg_pool":
            w = node["window"]
            s = jax.lax.reduce_window(a, 0.0, jax.lax.add, (1, w["kernel_h"], w["kernel_w"], 1), (1, w["stride"], w["stride"], 1), "VALID")
            out = s / (w["kernel_h"] * w["kernel_w"])
        elif op == "add":
            out = a + maps[node["inputs"][1]]
            out = jnp.maximum(out, 0.0) if node["relu"] else out
        elif op == "concat":
            out = jnp.concatenate([maps[src] for src in node["inputs"]], axis=-1)
        elif op == "flatten":
            out = a.transpose(0, 3, 1, 2).reshape(a.shape[0], 1, 1, -1)
        else:
            sys.exit(f"unknown node op {op!r} in the manifest")
        maps[node["name"]] = out
    return out.reshape(out.shape[0], -1)


# ---------------------------------------------------------------- integers


def exported_layers(manifest, export, hw):
    """The integers of the images (`cimpool export`), as the forward pass takes them."""
    z = np.load(export)
    layers = []
    for l in manifest["layers"]:
        n = l["name"]
        alpha, beta, shift, adc_shift, relu = (int(v) for v in z[f"{n}.scales"])
        L = {"host": l["host"], "alpha": float(alpha), "beta": float(beta), "shift": shift, "relu": bool(relu), "adc_shift": adc_shift, "bias": z[f"{n}.bias"].astype(np.float64)}
        if l["host"]:
            L["weight"] = z[f"{n}.weight"].astype(np.float64)
        elif hw.dense:
            L.update(cell_arrays_dense(z[f"{n}.weight"], hw))
        else:
            L["pool_bits"] = z[f"{n}.pool_bits"].astype(np.float32)
            L["error_bits"] = z[f"{n}.error_bits"].astype(np.float32)
            L["phase_mask"] = phase_mask(z[f"{n}.mask"], hw)
            L["mask_tiles"] = z[f"{n}.mask"].astype(bool)
            L["index"] = z[f"{n}.index"].astype(np.int64)
        L["width"] = l["row_blocks"] * hw.rows
        layers.append(L)
    return layers


def cell_arrays_dense(weight, hw):
    u = np.mod(weight.astype(np.int64), 1 << hw.w_bits)
    return {"weight_bits": np.stack([((u >> j) & 1).astype(np.float32) for j in range(hw.w_bits)])}


def phase_mask(mask, hw):
    """(out, blocks) tile masks -> (phases, out) over every phase of every block."""
    per = hw.rows // hw.wl
    return np.repeat(mask.astype(np.float64).T, per, axis=0)


def integer_scales(c, alpha, beta, bias, s_in, s_out):
    """src/compress/scales.rs: the largest shift whose integers fit."""
    ratio = s_in / s_out
    smax = float((1 << (c["scale_bits"] - 1)) - 1)
    bmax = float((1 << (c["bias_bits"] - 1)) - 1)
    a64, b64, bias64 = float(np.float32(alpha)), float(np.float32(beta)), bias.astype(np.float32).astype(np.float64)
    for s in range(min((1 << c["shift_bits"]) - 1, 62), -1, -1):
        k = 2.0**s
        if abs(round_half_away(a64 * ratio * k)) <= smax and abs(round_half_away(b64 * ratio * k)) <= smax and np.all(np.abs(round_half_away(bias64 / s_out * k)) <= bmax):
            return round_half_away(a64 * ratio * k), round_half_away(b64 * ratio * k), s, round_half_away(bias64 / s_out * k), ratio * k, k / s_out
    sys.exit("a layer's scales do not fit scale_bits / bias_bits even with shift 0")


class Projector:
    """Float weights -> the integers of the images cimpool compress would write."""

    def __init__(self, manifest, hw, images, pool, keep):
        self.m, self.hw, self.keep = manifest, hw, keep
        self.pool = None if pool is None else np.load(pool).astype(np.float32)
        self.dense = DenseProjection(images) if hw.dense else None
        if not hw.dense and self.pool is None:
            sys.exit("the pool engine needs --pool (the pool.npy the images were made with)")
        # Pruned by output effect: the input moments compress weighed with.
        report = json.loads((Path(images) / "report.json").read_text())
        self.moments = dict(np.load(Path(images) / "moments.npz")) if report.get("prune_by_output") else None

    def layer(self, li, w, b, base, choices=None):
        """choices: (index, mask) to pin, as the images hold them (the check
        at the start of training) or as `compress --choices` reads them."""
        l, hw = self.m["layers"][li], self.hw  # an engine layer: host layers stay as exported
        L = dict(base)
        out, fan_in = w.shape
        width = l["row_blocks"] * hw.rows
        m = None if self.moments is None else self.moments[l["name"]].astype(np.float64)
        if hw.dense:
            q, step = self.dense.parts(w, m)
            qpad = np.zeros((out, width))
            qpad[:, :fan_in] = q
            L.update(cell_arrays_dense(qpad, hw))
            alpha, beta = step, 0.0
            eff = (q * step).astype(np.float32)
        else:
            p, e, mask, alpha, beta, idx = pool_parts(w, self.pool, self.keep, choices, m)
            L["index"], L["mask"] = idx, mask
            L["pool_bits"] = (p.reshape(out, -1) > 0).astype(np.float32)
            # A pruned tile's error cells are never read; the images hold 0.
            L["error_bits"] = ((e > 0) & mask[:, :, None]).reshape(out, -1).astype(np.float32)
            L["phase_mask"] = phase_mask(mask, hw)
            # For --train-pool: the pool vector each (channel, row block)
            # takes and the float alpha scaling it.
            L["pool_index"], L["alpha_f"] = np.asarray(idx, dtype=np.int32), np.float32(alpha)
            eff = (alpha * p + beta * mask[:, :, None] * e).reshape(out, -1)[:, :fan_in]
        a, bb, shift, bias, k, kb = integer_scales(hw.c, alpha, beta, b, l["input_scale"], l["output_scale"])
        L.update(alpha=a, beta=bb, shift=shift, bias=bias, eff=eff, k=k, bias_f=b, kb=kb)
        return L

    def host_layer(self, li, w, b, base):
        """A host layer as compress quantizes it (src/compress/residual.rs,
        host_layer): symmetric 8-bit weights, one step max |w| / 127 in
        float32, the step as alpha (--train-host)."""
        l = self.m["layers"][li]
        L = dict(base)
        w32 = np.asarray(w, np.float32)
        step = np.maximum(np.abs(w32).max(), np.float32(1e-12)) / np.float32(127.0)
        q = np.clip(round_half_away(w32 / step), -127.0, 127.0)
        eff = (q.astype(np.float32) * step).astype(np.float32)
        a, bb, shift, bias, k, kb = integer_scales(self.hw.c, step, 0.0, b, l["input_scale"], l["output_scale"])
        L.update(weight=q.astype(np.float64), alpha=a, beta=bb, shift=shift, bias=bias, eff=eff, k=k, bias_f=b, kb=kb)
        return L


# ---------------------------------------------------------------- weights


def torch_to_engine(t, l):
    """A layer's weight tensor -> (out, fan_in) in (ky, kx, c) order."""
    g = l["geometry"]
    return t.reshape(l["out_channels"], g["in_c"], g["kernel_h"], g["kernel_w"]).transpose(0, 2, 3, 1).reshape(l["out_channels"], -1)


def engine_to_torch(w, l, shape):
    g = l["geometry"]
    return w.reshape(l["out_channels"], g["kernel_h"], g["kernel_w"], -1).transpose(0, 3, 1, 2).reshape(shape)


def fail(message):
    """Bad input: one line on stderr, exit code 2 (as cimpool's own refusals)."""
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


def check_data(path, x, y, manifest):
    """Refuses a data set that does not fit the network before any work:
    its sample length against the network input, its labels against the
    network's outputs."""
    i = manifest["input"]
    want = i["c"] * i["h"] * i["w"]
    if x.ndim != 2 or x.shape[1] != want:
        fail(f"{path}: samples of {x.shape[1] if x.ndim == 2 else x.shape} values; the network takes {want} ({i['c']}x{i['h']}x{i['w']})")
    outputs = manifest["nodes"][-1]["out"]
    classes = outputs["c"] * outputs["h"] * outputs["w"]
    if len(y) != len(x):
        fail(f"{path}: {len(x)} samples but {len(y)} labels")
    bad = y[(y < 0) | (y >= classes)]
    if bad.size:
        fail(f"{path}: label {int(bad[0])} is out of range: the network has {classes} outputs (labels 0..{classes - 1})")


def load_data(path):
    """Integer inputs and labels: .npz with x, y, or an IDX images file next to its labels."""
    path = Path(path)
    if path.suffix == ".npz":
        z = np.load(path)
        return z["x"].reshape(len(z["x"]), -1).astype(np.float64), z["y"].astype(np.int64)
    from fmnist import read_idx

    labels = Path(str(path).replace("images-idx3", "labels-idx1"))
    x = read_idx(path)
    return x.reshape(len(x), -1).astype(np.float64), read_idx(labels).astype(np.int64)


def run_batches(f, x, batch=256):
    return np.concatenate([np.asarray(f(x[i : i + batch])) for i in range(0, len(x), batch)])


# ---------------------------------------------------------------- commands


def check(args, manifest, hw):
    layers = exported_layers(manifest, args.export, hw)
    steps = [2.0 ** L["adc_shift"] for L in layers]
    x, y = load_data(args.data)
    check_data(args.data, x, y, manifest)
    f = jax.jit(lambda xb: forward(manifest, layers, hw, steps, xb, False))
    got = run_batches(f, x).astype(np.int64)
    want = np.load(args.golden)
    if got.shape != want.shape:
        sys.exit(f"check: outputs of shape {got.shape}, golden {want.shape}")
    bad = int((got != want).sum())
    print(f"check: {got.size} outputs of {len(x)} samples, {bad} differ from the golden model")
    return bad == 0 and check_float_convolutions(manifest, layers, x)


def check_float_convolutions(manifest, layers, x):
    """The float stage's convolutions (forward_float) against its im2col
    products on the same seeded float weights and the first 64 samples:
    the same sums in another order, so equal to float32 rounding."""
    rng = np.random.default_rng(0)
    float_layers = []
    for L, l in zip(layers, manifest["layers"]):
        F = dict(L)
        if not L["host"]:
            F["eff"] = jnp.asarray(rng.normal(0, 1 / np.sqrt(l["fan_in"]), (l["out_channels"], l["fan_in"])), jnp.float32)
            F["bias_f"] = jnp.asarray(rng.normal(0, 0.1, l["out_channels"]), jnp.float32)
        float_layers.append(F)
    xb = x[:64]
    conv = np.asarray(forward_float(manifest, float_layers, xb), np.float64)
    cols = np.asarray(forward_float(manifest, float_layers, xb, im2col_products=True), np.float64)
    diff = float(np.abs(conv - cols).max() / max(np.abs(cols).max(), 1e-30))
    ok = diff < 1e-4
    print(f"check: float stage, convolutions {'agree with' if ok else 'DIFFER from'} the im2col products (largest difference {diff:.1e} of the largest output)")
    return ok


def refine_shifts(manifest, hw, layers, shifts, x, y):
    """Each lossy engine layer's ADC shift refined on (x, y) by
    descend_shifts. Why: the learned log2 step is rounded, and where it
    sits near a half the rounding is arbitrary, yet at 3 bits one step in
    one layer can move accuracy by 30 points (docs/COMPRESSION.md)."""
    out_scale = manifest["nodes"][-1]["scale"]
    f = jax.jit(lambda xb, st: forward(manifest, layers, hw, st, xb, False))

    def run(sh):
        st = [jnp.float32(2.0 ** sh.get(li, 0)) for li in range(len(layers))]
        loss, hit = 0.0, 0
        for i in range(0, len(x), 256):
            lg = np.asarray(f(x[i : i + 256], st)) * out_scale
            loss += float(optax.softmax_cross_entropy_with_integer_labels(lg, y[i : i + 256]).sum())
            hit += int((lg.argmax(axis=1) == y[i : i + 256]).sum())
        return loss / len(x), 100.0 * hit / len(x)

    names = {li: manifest["layers"][li]["name"] for li in shifts}
    print(f"refine: on {len(x)} training samples", flush=True)
    return descend_shifts(run, shifts, hw.max_shift, names)


def descend_shifts(run, shifts, max_shift, names):
    """Coordinate descent on the loss: each layer's shift tried one step
    down and up in turn (at most two passes), a move kept where it lowers
    the loss. Of every configuration scored, the start included, the one
    of highest accuracy is returned (lower loss among equals): the loss
    guides the search because it moves smoothly, but it can fall while
    accuracy falls (the residual CNN at W = 256, 4 bits: loss 1.854 ->
    1.850, accuracy 45.8% -> 40.4% on the samples, 46.3% -> 41.3% on the
    test images), and a move that costs accuracy can open better ones.
    run(shifts) gives (loss, accuracy in %)."""
    scored = {}

    def score(sh):
        key = tuple(sorted(sh.items()))
        if key not in scored:
            scored[key] = run(sh)
        return scored[key]

    def show(sh):
        return [sh[li] for li in shifts]

    best = dict(shifts)
    cur = score(best)
    print(f"refine: ADC shifts {show(best)}: loss {cur[0]:.4f}, accuracy {cur[1]:.2f}%", flush=True)
    for _ in range(2):
        moved = False
        for li in shifts:
            base = best[li]
            for cand in (base - 1, base + 1):
                if 0 <= cand <= max_shift:
                    trial = {**best, li: cand}
                    s = score(trial)
                    if s[0] < cur[0]:
                        print(f"refine: {names[li]} {best[li]} -> {cand}: loss {s[0]:.4f}, accuracy {s[1]:.2f}%", flush=True)
                        best, cur, moved = trial, s, True
        if not moved:
            break
    key = max(scored, key=lambda k: (scored[k][1], -scored[k][0]))
    if key != tuple(sorted(best.items())):
        best = dict(key)
        loss, acc = scored[key]
        print(f"refine: kept ADC shifts {show(best)}, the most accurate of {len(scored)} scored: loss {loss:.4f}, accuracy {acc:.2f}%", flush=True)
    return best


def refinecheck():
    """descend_shifts on made-up scores where the loss and the accuracy
    disagree. Returns the number of wrong choices."""
    default = (5.0, 0.0)
    cases = (
        # the loss falls and the accuracy with it: the start stays
        ({(0, 0): (1.85, 45.8), (0, 1): (1.80, 40.4)}, (0, 0)),
        # a move that costs accuracy opens a better one; the last move costs some again
        ({(0, 0): (2.0, 38.0), (1, 0): (1.99, 29.0), (1, 1): (1.5, 54.0), (1, 2): (1.45, 52.0)}, (1, 1)),
        # the loss and the accuracy agree: plain descent
        ({(0, 0): (2.0, 30.0), (0, 1): (1.5, 60.0), (0, 2): (1.2, 70.0)}, (0, 2)),
    )
    bad = 0
    for table, want in cases:
        got = descend_shifts(lambda sh: table.get((sh[0], sh[1]), default), {0: 0, 1: 0}, 3, {0: "a", 1: "b"})
        ok = (got[0], got[1]) == want
        bad += not ok
        print(f"refinecheck: kept {(got[0], got[1])}, expected {want}{'' if ok else '  WRONG'}")
    return bad


def refine_subset(args, x, y):
    """The training samples refinement scores on: a seeded subset of
    --refine-shifts of them (all of them if there are fewer; the refine
    line says how many)."""
    keep = np.sort(np.random.default_rng(args.seed).permutation(len(y))[: args.refine_shifts])
    return x[keep], y[keep]


def training_data(args, manifest):
    """--train, checked against the network, or the seeded subset of
    --train-samples of it (refine given the same --train-samples and
    --seed scores on the samples train's refinement did)."""
    x, y = load_data(args.train)
    check_data(args.train, x, y, manifest)
    if args.train_samples is not None:
        if not 0 < args.train_samples <= len(y):
            fail(f"--train-samples {args.train_samples}: the training data has {len(y)} samples (allowed 1..{len(y)})")
        keep = np.sort(np.random.default_rng(args.seed).permutation(len(y))[: args.train_samples])
        x, y = x[keep], y[keep]
        print(f"{args.command}: on {len(y)} of the training samples (seed {args.seed})")
    return x, y


def refine(args, manifest, hw):
    """refine: the ADC shifts of any images (post-training or trained), chosen on labelled training data."""
    if not hw.lossy:
        fail(f"{args.images}: adc_bits = {hw.adc_bits} reads out exactly: no ADC shifts to refine")
    layers = exported_layers(manifest, args.export, hw)
    engine = [li for li, l in enumerate(manifest["layers"]) if not l["host"]]
    x, y = refine_subset(args, *training_data(args, manifest))
    best = refine_shifts(manifest, hw, layers, {li: int(layers[li]["adc_shift"]) for li in engine}, x, y)
    Path(args.shifts).write_text(json.dumps({manifest["layers"][li]["name"]: s for li, s in best.items()}, indent=2) + "\n")
    print(f"wrote {args.shifts}")


def keep_at(args, epoch):
    """The keep ratio epoch `epoch` (from 0) trains at: --keep, or under
    --keep-from a linear fall from K0 to --keep over --keep-ramp epochs.
    A network at chance after post-training compression at --keep starts
    where fewer of its error tiles are pruned and loses them gradually."""
    if args.keep_from is None or epoch >= args.keep_ramp:
        return args.keep
    return args.keep_from + (args.keep - args.keep_from) * epoch / args.keep_ramp


def check_keep_ramp(args):
    """--keep-from / --keep-ramp on their own (before any file is read)."""
    if args.keep_ramp is not None and args.keep_from is None:
        fail(f"--keep-ramp {args.keep_ramp}: give --keep-from too (the keep ratio the first epoch trains at)")
    if args.keep_from is None:
        return
    if not args.keep < args.keep_from <= 1:
        fail(f"--keep-from {args.keep_from}: allowed above --keep ({args.keep}) and at most 1")
    if args.keep_ramp is None:
        fail(f"--keep-from {args.keep_from}: give --keep-ramp N too (the epochs the keep ratio falls to --keep over)")
    if not 1 <= args.keep_ramp <= args.epochs - 1:
        fail(f"--keep-ramp {args.keep_ramp}: allowed 1 to {args.epochs - 1} (--epochs less one, so the last epochs train at --keep)")


def train(args, manifest, hw):
    if args.epochs < 0:
        fail(f"--epochs {args.epochs}: allowed 0 (project only) or more")
    if args.keep_from is not None and hw.dense:
        fail("--keep-from: the dense engine has no error tiles to keep (its pruning is --sparsity at compress)")
    exported = exported_layers(manifest, args.export, hw)
    proj = Projector(manifest, hw, args.images, args.pool, args.keep)
    tensors = dict(np.load(args.weights))
    engine = [li for li, l in enumerate(manifest["layers"]) if not l["host"]]
    host = [li for li, l in enumerate(manifest["layers"]) if l["host"]]
    if args.train_host and not host:
        fail(f"--train-host: {args.images} has no host layers (compress --host-layers puts layers there)")
    # The layers whose weights train: the engine's, and the host's under --train-host.
    trained = sorted(engine + host) if args.train_host else engine
    params = {}
    for li in trained:
        l = manifest["layers"][li]
        n = l["name"]
        if f"{n}.weight" not in tensors or f"{n}.bias" not in tensors:
            fail(f"{args.weights}: no `{n}.weight` / `{n}.bias`: adc_train.py trains networks without BatchNorm: write the folded network with `cimpool compress --write-folded`")
        params[f"{n}.weight"] = torch_to_engine(tensors[f"{n}.weight"].astype(np.float32), l)
        params[f"{n}.bias"] = tensors[f"{n}.bias"].astype(np.float32)

    def effective(p):
        """The weights of every trained layer (gain x direction under --channel-gain)."""
        if not args.channel_gain:
            return p
        out = dict(p)
        for li in trained:
            n = manifest["layers"][li]["name"]
            out[f"{n}.weight"] = p[f"{n}.weight"] * p[f"{n}.gain"][:, None]
        return out

    def integers(params, pinned=False):
        layers = list(exported)
        for li in engine:
            n = manifest["layers"][li]["name"]
            ch = (exported[li]["index"], exported[li]["mask_tiles"]) if pinned and not hw.dense else None
            layers[li] = proj.layer(li, params[f"{n}.weight"], params[f"{n}.bias"], exported[li], ch)
        for li in trained:
            if manifest["layers"][li]["host"]:
                n = manifest["layers"][li]["name"]
                layers[li] = proj.host_layer(li, params[f"{n}.weight"], params[f"{n}.bias"], exported[li])
        return layers

    # The projection must rebuild the images' integers: otherwise training
    # would optimise another network than the one compress makes. The
    # images' own pool indices and kept tiles are pinned for this check: a
    # near tie compress resolved one way is not a difference of method.
    start = integers(params, pinned=True)
    for li in trained:
        a, b = start[li], exported[li]
        keys = ["weight"] if a["host"] else ["weight_bits"] if hw.dense else ["pool_bits", "error_bits", "phase_mask"]
        diff = sum(int((np.asarray(a[k]) != np.asarray(b[k])).sum()) for k in keys)
        diff += sum(int(a[k] != b[k]) for k in ("alpha", "beta", "shift")) + int((a["bias"] != b["bias"]).sum())
        if diff:
            fail(f"layer `{manifest['layers'][li]['name']}`: the projection of {args.weights} differs from the images in {diff} values; give the weights and pool the images were made from")
    print(f"projection: the weights rebuild the images' integers exactly ({len(engine)} engine layers{f', {len(host)} host layers' if args.train_host else ''})")
    if args.channel_gain:
        # --channel-gain: each output channel trained as a gain times a
        # direction whose RMS is 1/sqrt(fan-in), the scale a freshly
        # initialised layer has. A folded BatchNorm leaves channels (and
        # layers: 11x in the residual CNN's first) at very different
        # scales, and Adam's steps do not follow a weight's scale, so
        # large channels would move relatively less; trained this way a
        # step moves every channel by the same fraction, as it does when
        # BatchNorm's scale is trained unfolded before folding.
        # After the projection check: (w / gain) x gain need not be w to
        # the last bit, and the check is of the weights as given.
        spread = []
        for li in trained:
            n = manifest["layers"][li]["name"]
            w = params[f"{n}.weight"]
            rms = np.sqrt((w.astype(np.float64) ** 2).mean(axis=1))
            gain = np.where(rms > 0, rms * np.sqrt(w.shape[1]), 1.0).astype(np.float32)
            params[f"{n}.weight"] = (w / gain[:, None]).astype(np.float32)
            params[f"{n}.gain"] = gain
            spread.append(float(gain.max() / gain.min()))
        print(f"channel gains: each output channel a trained gain times a direction of RMS 1/sqrt(fan-in); largest / smallest gain per layer {min(spread):.1f}x to {max(spread):.1f}x")

    x_train, y_train = training_data(args, manifest)
    if not 0 < args.batch <= len(y_train):
        fail(f"--batch {args.batch}: allowed 1..{len(y_train)} (the training samples)")
    x_test, y_test = load_data(args.data)
    check_data(args.data, x_test, y_test, manifest)
    out_scale = manifest["nodes"][-1]["scale"]
    initial_shift = {li: float(exported[li]["adc_shift"]) for li in engine}

    def steps_of(log2):
        steps = [1.0] * len(exported)
        for li in engine:
            v = log2[str(li)]
            r = jnp.clip(jnp.round(v), 0, hw.max_shift)
            steps[li] = 2.0 ** (v + sg(r - v))
        return steps

    def accuracy(layers, log2, x, y):
        f = jax.jit(lambda xb: forward(manifest, layers, hw, steps_of(log2), xb, False))
        return float((run_batches(f, x).argmax(axis=1) == y).mean())

    log2 = {str(li): jnp.asarray(s) for li, s in initial_shift.items()}
    if args.command != "bench":
        print(f"before: test accuracy {100 * accuracy(start, log2, x_test, y_test):.2f}% (golden integer path, ADC steps 2^{[int(v) for v in initial_shift.values()]})")

    # Only the tensors that change go through jit as arguments.
    def pool_signs(latent):
        """The +-1 pool of the latent pool (0 counts as +1)."""
        return np.where(np.asarray(latent) >= 0, 1.0, -1.0).astype(np.float32)

    # --distill: the float network (the teacher's weights, no projection)
    # gives soft targets; the loss mixes them (Hinton et al. 2015: KL at
    # temperature T, scaled by T^2) with the labels' cross-entropy.
    teacher = None
    if not 0.0 <= args.distill <= 1.0:
        fail(f"--distill {args.distill}: the soft targets' weight in the loss, allowed 0..1")
    if not args.distill_temp > 0:
        fail(f"--distill-temp {args.distill_temp}: allowed > 0")
    if args.distill > 0:
        source = args.teacher or args.weights
        tt = dict(np.load(source))
        teacher = list(exported)
        for li in engine:
            l = manifest["layers"][li]
            n = l["name"]
            if f"{n}.weight" not in tt or f"{n}.bias" not in tt:
                fail(f"--teacher {source}: no `{n}.weight` / `{n}.bias`: give the float network the images were made from, BatchNorm folded (compress --write-folded)")
            if tt[f"{n}.weight"].size != params[f"{n}.weight"].size:
                fail(f"--teacher {source}: `{n}.weight` has {tt[f'{n}.weight'].size} values where the network has {params[f'{n}.weight'].size}")
            teacher[li] = {**exported[li], "eff": torch_to_engine(tt[f"{n}.weight"].astype(np.float32), l), "bias_f": tt[f"{n}.bias"].astype(np.float32)}
        print(f"distillation: soft targets of {source} at temperature {args.distill_temp:g}, weight {args.distill:g}")

    def loss(p, log2, layers, xb, yb, latent=None, arith=args.arith, project=True, hwv=hw):
        p = effective(p)
        lay = list(layers)
        for li in trained:
            n = manifest["layers"][li]["name"]
            L = dict(lay[li])
            # project=False: the float weights themselves (bench's float step).
            L["eff"] = p[f"{n}.weight"] + sg(L["eff"] - p[f"{n}.weight"]) if project else p[f"{n}.weight"]
            if latent is not None and not L["host"]:
                # --train-pool: alpha x pool[index] is part of the effective
                # weights; this term is 0 forward and passes its gradient to
                # the latent pool (straight through the sign).
                out, fan_in = L["eff"].shape
                signs = latent + sg(jnp.where(latent >= 0, 1.0, -1.0) - latent)
                g = signs[L["pool_index"]].reshape(out, -1)[:, :fan_in]
                L["eff"] = L["eff"] + L["alpha_f"] * (g - sg(g))
            L["bias_f"] = p[f"{n}.bias"]
            lay[li] = L
        if arith == "float":
            logits = forward_float(manifest, lay, xb)
        else:
            logits = forward(manifest, lay, hwv, steps_of(log2), xb, True) * out_scale
        ce = optax.softmax_cross_entropy_with_integer_labels(logits, yb).mean()
        if teacher is None:
            return ce
        t = args.distill_temp
        soft = jax.nn.softmax(sg(forward_float(manifest, teacher, xb)) / t)
        kd = optax.softmax_cross_entropy(logits / t, soft).mean() * t * t
        return (1.0 - args.distill) * ce + args.distill * kd

    # At least one step: with --epochs 0 the weights are only projected.
    total_steps = max(1, args.epochs * (len(y_train) // args.batch))
    sched = optax.cosine_decay_schedule(args.lr, total_steps) if args.lr_schedule == "cosine" else args.lr
    # A constant step learning rate lets the rounded shifts flip between
    # neighbours up to the last step; decaying it lets them settle.
    step_lr = optax.cosine_decay_schedule(args.step_lr, total_steps) if args.step_schedule == "cosine" else args.step_lr
    train_pool = bool(args.train_pool)
    if train_pool and hw.dense:
        fail("--train-pool: the dense engine has no pool")
    if train_pool and not args.pool_out:
        fail("--train-pool needs --pool-out (the trained pool, for cimpool compress --pool)")
    if not args.pool_lr > 0:
        fail(f"--pool-lr {args.pool_lr}: allowed > 0")
    groups = {"w": optax.adam(sched), "s": optax.adam(step_lr if hw.lossy else 0.0)}
    labels = {"w": jax.tree_util.tree_map(lambda _: "w", params), "s": jax.tree_util.tree_map(lambda _: "s", log2)}
    state = {"w": {k: jnp.asarray(v) for k, v in params.items()}, "s": log2}
    if train_pool:
        # The latent pool starts at the pool's signs times --pool-init: a
        # bit flips when its accumulated gradient crosses that margin.
        groups["p"] = optax.adam(optax.cosine_decay_schedule(args.pool_lr, total_steps))
        labels["p"] = "p"
        state["p"] = jnp.asarray(proj.pool * args.pool_init)
    opt = optax.multi_transform(groups, labels)
    opt_state = opt.init(state)
    start_pool = None if proj.pool is None else proj.pool.copy()

    def static(layers):
        # Shapes are fixed, so one compiled step serves every batch.
        return [{k: (v if isinstance(v, (bool, int)) else jnp.asarray(v)) for k, v in L.items() if k not in ("shift", "relu", "host", "adc_shift", "width", "index", "mask", "mask_tiles") and (train_pool or k not in ("pool_index", "alpha_f"))} for L in layers]

    meta = [{k: L[k] for k in ("shift", "relu", "host", "adc_shift", "width") if k in L} for L in exported]

    def merge(arrays, shifts):
        return [{**a, **m, "shift": s} for a, m, s in zip(arrays, meta, shifts)]

    def make_step(arith, project=True, hwv=hw):
        @functools.partial(jax.jit, static_argnums=(3,))
        def step(state, opt_state, arrays, shifts, xb, yb):
            lay = merge(arrays, shifts)
            l, g = jax.value_and_grad(lambda s: loss(s["w"], s["s"], lay, xb, yb, s.get("p"), arith, project, hwv))(state)
            updates, opt_state = opt.update(g, opt_state, state)
            return optax.apply_updates(state, updates), opt_state, l

        return step

    step = make_step(args.arith)

    def hardware_step(step, state, opt_state, xb, yb):
        """One training step as an epoch runs it: the current weights
        projected (pool indices, kept tiles, integers), then the step."""
        w = {k: np.asarray(v) for k, v in effective(state["w"]).items()}
        if train_pool:
            proj.pool = pool_signs(state["p"])
        layers = integers(w)
        shifts = tuple(L["shift"] for L in layers)
        return step(state, opt_state, static(layers), shifts, xb, yb)

    if args.command == "bench":
        # Images per second of the training steps, side by side on the same
        # batches: the float network alone (no projection), the float stage
        # against the hardware (--arith float) and the integer stage.
        fixed = static(start)
        shifts0 = tuple(L["shift"] for L in start)
        variants = [
            ("float network (no hardware)", lambda st, os, xb, yb, f=make_step("float", project=False): f(st, os, fixed, shifts0, xb, yb)),
            ("float stage against the hardware (--arith float)", lambda st, os, xb, yb, f=make_step("float"): hardware_step(f, st, os, xb, yb)),
            ("integer stage (exact integer path, ADC)", lambda st, os, xb, yb, f=make_step("integer"): hardware_step(f, st, os, xb, yb)),
        ]
        if not hw.lossy:
            # An exact read-out's integer stage takes one product per phase;
            # the bit planes (the lossy ADC's path) beside it, same integers.
            planes = copy.copy(hw)
            planes.force_planes = True
            variants.append(("integer stage through the bit planes (--bit-planes)", lambda st, os, xb, yb, f=make_step("integer", hwv=planes): hardware_step(f, st, os, xb, yb)))
        n, most_warm, least_s = args.bench_steps, 5, 2.0
        if n < 1:
            fail(f"--bench-steps {n}: allowed 1 or more")
        batches = len(y_train) // args.batch

        def batch(k):
            # The batches cycle through the training samples.
            sl = slice((k % batches) * args.batch, (k % batches + 1) * args.batch)
            return x_train[sl], y_train[sl]

        def types(tree):
            return [(a.shape, a.dtype, getattr(a, "weak_type", False)) for a in jax.tree_util.tree_leaves(tree)]

        rows = []
        for name, run in variants:
            st, os_ = state, opt_state
            # A step compiles again while the state's types still change
            # (weak types, then float64 promotions): untimed steps until
            # they hold, then n timed ones.
            i = 0
            while True:
                before = types((st, os_))
                st, os_, l = run(st, os_, *batch(i))
                jax.block_until_ready(l)
                i += 1
                if types((st, os_)) == before or i == most_warm:
                    break
            # At least n steps and least_s seconds, so sub-millisecond
            # steps are not timer noise.
            t0, done = time.perf_counter(), 0
            while done < n or time.perf_counter() - t0 < least_s:
                st, os_, l = run(st, os_, *batch(i + done))
                jax.block_until_ready(l)
                done += 1
            took = time.perf_counter() - t0
            rows.append({"step": name, "steps": done, "images_per_s": done * args.batch / took, "ms_per_step": 1e3 * took / done})
        base = rows[0]["images_per_s"]
        print(f"training speed, batches of {args.batch} images, at least {n} steps and {least_s:.0f} s each after the compiling ones ({jax.default_backend()}):")
        print("| step | steps timed | images/s | ms per step | time vs the float network |")
        print("|---|---:|---:|---:|---:|")
        for r in rows:
            print(f"| {r['step']} | {r['steps']} | {r['images_per_s']:.0f} | {r['ms_per_step']:.2f} | {base / r['images_per_s']:.1f}x |")
        if args.report:
            Path(args.report).write_text(json.dumps({"batch": args.batch, "steps": n, "backend": jax.default_backend(), "rows": rows}, indent=2) + "\n")
            print(f"wrote {args.report}")
        return

    rng = np.random.default_rng(args.seed)
    nb = len(y_train) // args.batch
    # --checkpoint: what the run depends on, so that a resumed run repeats
    # an uninterrupted one bit for bit (tools/checkpoint.py).
    run = {k: getattr(args, k) for k in ("arith", "adc_grad", "epochs", "batch", "lr", "lr_schedule", "step_lr", "step_schedule", "seed", "keep", "train_samples", "train_pool", "pool_lr", "pool_init", "distill", "distill_temp", "channel_gain")}
    if args.train_host:
        # Only when set, as the ramp below.
        run.update(train_host=True)
    if args.keep_from is not None:
        # Only when set: checkpoints of runs without a ramp stay valid.
        run.update(keep_from=args.keep_from, keep_ramp=args.keep_ramp)
    run.update({"samples": len(y_train), **{f: digest(getattr(args, f)) for f in ("weights", "pool", "export", "train", "teacher")}})
    ck = Checkpoint(args.checkpoint, run)
    first_epoch, first_step, total = 0, 0, 0.0
    saved = ck.load()
    if saved:
        state, opt_state = to_device(saved["state"]), to_device(saved["opt_state"])
        first_epoch, first_step, total = saved["epoch"], saved["step"], saved["total"]
        rng.bit_generator.state = saved["rng"]
        print(f"resuming {args.checkpoint}: epoch {first_epoch + 1}/{args.epochs}, step {first_step}/{nb}", flush=True)

    def write_checkpoint(epoch, at, rng_state, total):
        ck.save({"state": to_host(state), "opt_state": to_host(opt_state), "epoch": epoch, "step": at, "rng": rng_state, "total": total})

    done_here = 0
    for epoch in range(first_epoch, args.epochs):
        t0 = time.time()
        proj.keep = keep_at(args, epoch)
        ramp = f" (keep {proj.keep:.3f})" if args.keep_from is not None else ""
        shown, done_shown = t0, done_here
        rng_state = rng.bit_generator.state
        order = rng.permutation(len(y_train))
        start = first_step if epoch == first_epoch else 0
        if epoch != first_epoch or start == 0:
            total = 0.0
        for i in range(start, nb):
            idx = order[i * args.batch : (i + 1) * args.batch]
            state, opt_state, l = hardware_step(step, state, opt_state, x_train[idx], y_train[idx])
            total += float(l)
            done_here += 1
            if (i + 1) % CHECKPOINT_EVERY == 0 and i + 1 < nb:
                write_checkpoint(epoch, i + 1, rng_state, total)
            if args.stop_after is not None and done_here >= args.stop_after:
                write_checkpoint(epoch, i + 1, rng_state, total)
                print(f"stopped after {done_here} steps (epoch {epoch + 1}, step {i + 1}), as asked (--stop-after)", flush=True)
                return
            if time.time() - shown >= args.progress and i + 1 < nb:
                # Long epochs (the residual CNNs') say how far they are, at
                # the rate since the last line (other jobs come and go).
                rate = (done_here - done_shown) * args.batch / (time.time() - shown)
                left = ((args.epochs - epoch) * nb - i - 1) * args.batch / rate
                print(f"  epoch {epoch + 1}/{args.epochs}: step {i + 1}/{nb}, loss {total / (i + 1):.4f}, {rate:.0f} samples/s, about {left / 60:.0f} min left in all", flush=True)
                shown, done_shown = time.time(), done_here
        learned = [int(np.clip(np.round(float(state["s"][str(li)])), 0, hw.max_shift)) for li in engine]
        took = time.time() - t0
        rate = (nb - start) * args.batch / took
        left = (args.epochs - epoch - 1) * nb * args.batch / rate
        eta = f"; about {left / 60:.0f} min left" if left >= 60 else ""
        flipped = f", {int((pool_signs(state['p']) != start_pool).sum())} pool bits flipped" if train_pool else ""
        print(f"epoch {epoch + 1}/{args.epochs}{ramp}: loss {total / nb:.4f}, ADC shifts {learned}{flipped} ({took:.1f} s, {rate:.0f} samples/s{eta})", flush=True)
        write_checkpoint(epoch + 1, 0, rng.bit_generator.state, 0.0)
    # What is written is projected at the images' keep ratio.
    proj.keep = args.keep

    w = {k: np.asarray(v) for k, v in effective(state["w"]).items()}
    if train_pool:
        proj.pool = pool_signs(state["p"])
    layers = integers(w)
    learned = {li: int(np.clip(np.round(float(state["s"][str(li)])), 0, hw.max_shift)) for li in engine}
    if hw.lossy and args.refine_shifts:
        learned = refine_shifts(manifest, hw, layers, learned, *refine_subset(args, x_train, y_train))
    final = accuracy(layers, {str(li): jnp.asarray(float(s)) for li, s in learned.items()}, x_test, y_test)
    # Exact read-out has no step to learn: an empty map.
    shifts = {manifest["layers"][li]["name"]: learned[li] for li in engine if hw.lossy}
    print(f"after {args.epochs} epochs: test accuracy {100 * final:.2f}% (golden integer path), learned ADC shifts {shifts}")
    for li in trained:
        if manifest["layers"][li]["host"]:
            moved = int((layers[li]["weight"] != exported[li]["weight"]).sum())
            print(f"host layer {manifest['layers'][li]['name']}: {moved} of {layers[li]['weight'].size} 8-bit weights changed")
    out = dict(tensors)
    for li in trained:
        l = manifest["layers"][li]
        n = l["name"]
        out[f"{n}.weight"] = engine_to_torch(w[f"{n}.weight"], l, tensors[f"{n}.weight"].shape).astype(np.float32)
        out[f"{n}.bias"] = w[f"{n}.bias"].astype(np.float32)
    np.savez(args.out, **out)
    Path(args.shifts).write_text(json.dumps(shifts, indent=2) + "\n")
    written = [args.out, args.shifts]
    if train_pool:
        # The pool's dtype and shape as compress writes pool.npy.
        np.save(args.pool_out, proj.pool.astype(np.load(args.pool).dtype))
        print(f"trained pool: {int((proj.pool != start_pool).sum())} of {proj.pool.size} bits flipped")
        written.append(args.pool_out)
    if args.choices and not hw.dense:
        # The pool indices and kept tiles training evaluated, for
        # `cimpool compress --choices`: no near tie can fall another way.
        ch = {}
        for li in engine:
            n = manifest["layers"][li]["name"]
            ch[f"{n}.index"] = np.asarray(layers[li]["index"], dtype=np.int64)
            ch[f"{n}.mask"] = np.asarray(layers[li]["mask"], dtype=np.uint8)
        np.savez(args.choices, **ch)
        written.append(args.choices)
    if args.report:
        correct = int(round(final * len(y_test)))
        Path(args.report).write_text(json.dumps({"accuracy": 100 * final, "correct": correct, "samples": len(y_test), "epochs": args.epochs, "adc_shifts": shifts}, indent=2) + "\n")
        written.append(args.report)
    print(f"wrote {', '.join(written)}")


def table(build, nets, wls, bits):
    """The Markdown table of `make adc-table`, from the logs of `make adc-train` runs."""
    import re

    def acc(path):
        return float(re.search(r"accuracy ([0-9.]+)%", Path(path).read_text()).group(1))

    def steps(d):
        r = json.loads((Path(d) / "report.json").read_text())
        return ", ".join(str(l.get("adc_shift")) for l in r["layers"])

    print("| network | W | B | post-training, fixed step | post-training, calibrated (steps) | ADC-aware trained (learned steps) |")
    print("|---|---:|---:|---:|---:|---:|")
    for net in nets:
        for w in wls:
            for b in bits:
                d = Path(build) / f"adc-{net}-w{w}-b{b}-k1.0"
                if not (d / "golden.log").exists():
                    continue
                learned = ", ".join(str(v) for v in json.loads((d / "shifts.json").read_text()).values())
                if b == "0":
                    print(f"| {net} | {w} | exact | {acc(d / 'pt.log'):.2f}% | - | **{acc(d / 'golden.log'):.2f}%** |")
                else:
                    print(f"| {net} | {w} | {b} | {acc(d / 'fixed.log'):.2f}% | {acc(d / 'pt.log'):.2f}% ({steps(d / 'pt')}) | **{acc(d / 'golden.log'):.2f}%** ({learned}) |")


def gradcheck():
    """adc_sums' hand-written step gradient against automatic
    differentiation of the same ADC written plainly (LSQ: floor or round
    inside the range with a straight-through rounding, the clamp passing
    the top code or 0), on random column sums for the three ADC modes and
    several steps; the codes against docs/SPEC.md's integer formulas. Returns the number of mismatches."""
    rng = np.random.default_rng(7)
    bad = 0
    for mode in ADC_MODES:
        sums = np.arange(0, 513)
        for sh in range(0, 6):
            got = np.asarray(adc_code(jnp.asarray(sums / 2.0**sh, dtype=jnp.float32), mode))
            want = np.array([spec_code(int(v), sh, mode) for v in sums])
            if not np.array_equal(got, want):
                bad += 1
                print(f"{mode} step 2^{sh}: codes differ from docs/SPEC.md's at sums {sums[got != want][:5]}  MISMATCH")
    for mode in ADC_MODES:
        for adc_bits, wl, shift in ((3, 64, 0), (3, 64, 2), (4, 128, 1), (5, 256, 3)):
            hw = Hardware.__new__(Hardware)
            hw.act_bits, hw.adc_bits, hw.mode, hw.wl, hw.lossy = 8, adc_bits, mode, wl, True
            ph, m, o = 3, 40, 5
            s = jnp.asarray(rng.integers(0, wl + 1, (ph, m * hw.act_bits, o)).astype(np.float32))
            g = jnp.asarray(rng.normal(size=(ph, m, o)))
            top = float((1 << adc_bits) - 1)

            def plain(step):
                r = s / step
                q = sg(adc_code(r, mode))
                inside = sg(((q >= 0) & (q <= top)).astype(r.dtype))
                a = (r + sg(q - r)) * inside + sg(jnp.clip(q, 0.0, top)) * (1 - inside)
                return jnp.sum(g * plane_sums(a * step, m, hw))

            step = jnp.float32(2.0**shift)
            want = float(jax.grad(plain)(step))
            got = float(jax.grad(lambda st: jnp.sum(g * adc_sums(s, st, m, hw)))(step))
            vw, vg = float(plain(step)), float(jnp.sum(g * adc_sums(s, step, m, hw)))
            # float32 sums in either order: a formula error shows as far more than 1e-4.
            ok = abs(got - want) <= 1e-4 * max(1.0, abs(want)) and vw == vg
            bad += not ok
            print(f"{mode} B={adc_bits} W={wl} step 2^{shift}: gradient {got:.6g} (automatic {want:.6g}){'' if ok else '  MISMATCH'}")
    return bad + clampcheck(rng)


def spec_code(s, sh, mode):
    """docs/SPEC.md section 2's ADC code of the integer sum s at step 2^sh,
    before the clamp, in its own integer words."""
    if sh == 0 or mode == "floor_clamp":
        return s >> sh
    if mode == "round_clamp":
        return (s + (1 << (sh - 1))) >> sh
    return (s + (1 << (sh - 1)) - 1 + ((s >> sh) & 1)) >> sh


def clampcheck(rng):
    """--adc-grad clamp: in_range against the ADC's definition written as
    loops, and clamp_aware_product's weight gradient against the per-phase
    sum it stands for. Returns the number of mismatches."""
    hw = Hardware.__new__(Hardware)
    hw.act_bits, hw.adc_bits, hw.wl, hw.lossy = 8, 3, 16, True
    ph, m, o = 3, 6, 4
    bad = 0
    for mode in ADC_MODES:
        hw.mode = mode
        s = rng.integers(0, hw.wl + 1, (ph, m * hw.act_bits, o)).astype(np.float32)
        step = 2.0
        got = np.asarray(in_range(jnp.asarray(s), step, m, hw))
        want = np.zeros((ph, m, o))
        for h, i, t, c in np.ndindex(ph, m, hw.act_bits, o):
            code = spec_code(int(s[h, i * hw.act_bits + t, c]), 1, mode)
            want[h, i, c] += (2.0**t / 255.0) * (0 <= code <= 7)
        ok = np.allclose(got, want, atol=1e-6)
        bad += not ok
        print(f"in_range {mode}: {'matches' if ok else 'MISMATCH'} the loops (share of in-range conversions {want.mean():.3f})")
    x = rng.integers(0, 256, (m, 40)).astype(np.float32)
    w = rng.normal(size=(o, 40)).astype(np.float32)
    share = rng.uniform(size=(ph, m, o)).astype(np.float32)
    g = rng.normal(size=(m, o)).astype(np.float32)
    got = np.asarray(jax.grad(lambda w_: jnp.sum(g * clamp_aware_product(jnp.asarray(x), w_, jnp.asarray(share), hw, ph * hw.wl)))(jnp.asarray(w)))
    xp = np.pad(x, ((0, 0), (0, ph * hw.wl - 40)))
    want = np.zeros((o, ph * hw.wl))
    for h in range(ph):
        cols = slice(h * hw.wl, (h + 1) * hw.wl)
        want[:, cols] = (g * share[h]).T @ xp[:, cols]
    ok = np.allclose(got, want[:, :40], rtol=1e-4, atol=1e-3)
    bad += not ok
    print(f"clamp_aware_product: weight gradient {'matches' if ok else 'MISMATCH'} the per-phase sums")
    return bad


def same(report, golden, images):
    """Training's test accuracy (--report of train) against the golden
    model's on the recompressed images (`cimpool run --json`): the same
    number of correct samples, or exit 1."""
    t = json.loads(Path(report).read_text())
    g = json.loads(Path(golden).read_text())
    g_correct = int(round(g["accuracy"] * g["samples"]))
    if (t["correct"], t["samples"]) != (g_correct, g["samples"]):
        print(f"train: the golden model of {images} gets {g_correct} of {g['samples']} right, training reported {t['correct']} of {t['samples']}: they must agree")
        sys.exit(1)
    print(f"train: the golden model of {images} gets {g_correct} of {g['samples']} test samples right ({100 * g['accuracy']:.2f}%), as training reported")


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "same":
        t = argparse.ArgumentParser()
        t.add_argument("command")
        t.add_argument("--report", required=True)
        t.add_argument("--golden", required=True)
        t.add_argument("--images", required=True)
        a = t.parse_args()
        same(a.report, a.golden, a.images)
        return
    if len(sys.argv) > 1 and sys.argv[1] == "gradcheck":
        bad = gradcheck()
        print(f"gradcheck: {bad} mismatches")
        sys.exit(1 if bad else 0)
    if len(sys.argv) > 1 and sys.argv[1] == "refinecheck":
        bad = refinecheck()
        print(f"refinecheck: {bad} wrong")
        sys.exit(1 if bad else 0)
    if len(sys.argv) > 1 and sys.argv[1] == "table":
        t = argparse.ArgumentParser()
        t.add_argument("command")
        t.add_argument("--build", required=True)
        t.add_argument("--nets", nargs="+", default=["mlp", "cnn"])
        t.add_argument("--wls", nargs="+", default=["64", "128", "256"])
        t.add_argument("--bits", nargs="+", default=["0", "3", "4", "5"])
        a = t.parse_args()
        table(a.build, a.nets, a.wls, a.bits)
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("command", choices=("check", "train", "refine", "bench"))
    ap.add_argument("--images", required=True, help="folder of a cimpool compress run")
    ap.add_argument("--export", required=True, help="its integers: the .npz of `cimpool export`")
    ap.add_argument("--data", help="check, train: labelled test data (.npz with x, y, or IDX images)")
    ap.add_argument("--golden", help="check: the golden model's outputs (`cimpool run --outputs`)")
    ap.add_argument("--bit-planes", action="store_true", help="check, train: with an exact read-out too, sum each input bit plane's column sums as a lossy ADC's path does, instead of one product per phase (the reference the faster path is checked against)")
    ap.add_argument("--weights", help="train: the float weights the images were made from")
    ap.add_argument("--pool", help="train, pool engine: the pool.npy the images were made with")
    ap.add_argument("--keep", type=float, default=0.5, help="train, pool engine: the keep ratio the images were made with")
    ap.add_argument("--train", help="train, refine: labelled training data")
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--lr-schedule", choices=("cosine", "constant"), default="cosine", help="the weights' learning rate: cosine decay to 0 over the run (default), or constant")
    ap.add_argument("--step-lr", type=float, default=0.05, help="learning rate of the log2 ADC steps")
    ap.add_argument("--step-schedule", choices=("constant", "cosine"), default="cosine", help="the ADC steps' learning rate: cosine decay like the weights' (default), or constant")
    ap.add_argument(
        "--arith",
        choices=("integer", "float"),
        default="integer",
        help="train: through the engine's exact integer path (default), or in float arithmetic with the effective weights (no activation quantization, no ADC: a first stage before the scales are calibrated; the accuracy reported is still the integer path's)",
    )
    ap.add_argument(
        "--adc-grad",
        choices=("exact", "clamp"),
        default="exact",
        help="weights' and inputs' gradient through the ADC: the exact product's (straight through), or LSQ's (none through clamped codes)",
    )
    ap.add_argument(
        "--refine-shifts",
        type=int,
        default=1024,
        metavar="N",
        help="after training (and in refine): each layer's ADC shift tried one step down and up, moved where the loss on N training samples falls; the most accurate configuration scored is kept; 0 keeps the rounded learned steps",
    )
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--bench-steps", type=int, default=20, help="bench: training steps timed per variant, at least (and at least 2 s; after those that compile)")
    ap.add_argument("--train-samples", type=int, help="train (and refine) on this many training samples (a seeded random subset) instead of all")
    ap.add_argument("--progress", type=float, default=60.0, help="seconds between progress lines within an epoch")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--distill", type=float, default=0.0, metavar="A", help="train: knowledge distillation: weight A (0..1) of the float teacher's soft targets in the loss (0: labels only)")
    ap.add_argument("--distill-temp", type=float, default=4.0, metavar="T", help="train --distill: the softmax temperature of the soft targets")
    ap.add_argument("--teacher", help="train --distill: the teacher's float weights, BatchNorm folded (default: --weights)")
    ap.add_argument("--keep-from", type=float, metavar="K0", help="train, pool engine: a progressive keep ratio: the first epoch keeps K0 of the error tiles (--keep < K0 <= 1), the ratio falls linearly to --keep over --keep-ramp epochs and stays there")
    ap.add_argument("--keep-ramp", type=int, metavar="N", help="train --keep-from: the epochs the keep ratio takes to fall to --keep (1 to --epochs - 1, so the last epochs train at --keep)")
    ap.add_argument("--train-host", action="store_true", help="train: the host layers' weights train too, projected as compress quantizes them (8 bits, one step per layer); without it they keep the images' weights")
    ap.add_argument("--channel-gain", action="store_true", help="train: each output channel as a trained gain times a direction of RMS 1/sqrt(fan-in), so a step moves every channel by the same fraction (as BatchNorm's scale trained before folding)")
    ap.add_argument("--checkpoint", help=f"train: write a checkpoint here every {CHECKPOINT_EVERY} steps and at each epoch's end, and resume from it if it exists (a checkpoint of another run is refused)")
    ap.add_argument("--stop-after", type=int, help="train: stop after this many steps with a checkpoint written, as an interruption would (tests)")
    ap.add_argument("--out", help="train: trained weights (.npz, the model's tensor names)")
    ap.add_argument("--shifts", help="train: learned ADC shifts per layer (JSON, for cimpool compress --adc-shifts)")
    ap.add_argument("--choices", help="train, pool engine: the pool indices and kept error tiles of the trained weights (.npz, for cimpool compress --choices)")
    ap.add_argument("--report", help="train: the final test accuracy and learned steps (JSON)")
    ap.add_argument("--train-pool", action="store_true", help="train, pool engine: learn the pool's signs too (straight through), written to --pool-out for cimpool compress --pool")
    ap.add_argument("--pool-out", help="train --train-pool: the trained pool (.npy)")
    ap.add_argument("--pool-lr", type=float, default=1e-3, help="train --train-pool: learning rate of the latent pool (cosine decay)")
    ap.add_argument("--pool-init", type=float, default=0.01, help="train --train-pool: the latent pool's starting magnitude (its signs are the pool's)")
    args = ap.parse_args()
    check_keep_ramp(args)
    manifest_path = Path(args.images) / "manifest.json"
    if not manifest_path.is_file():
        fail(f"--images {args.images}: no manifest.json there: give the folder of a `cimpool compress` run")
    manifest = json.loads(manifest_path.read_text())
    hw = Hardware(args.images)
    hw.clamp_grad = args.adc_grad == "clamp"
    hw.force_planes = args.bit_planes
    if args.refine_shifts < (1 if args.command == "refine" else 0):
        zero = "" if args.command == "refine" else ", or 0 to keep the rounded learned steps"
        fail(f"--refine-shifts {args.refine_shifts}: the training samples to score the shifts on: allowed 1 or more{zero}")
    if args.stop_after is not None and (args.command != "train" or not args.checkpoint or args.stop_after < 1):
        fail(f"--stop-after {args.stop_after}: allowed 1 or more, with train --checkpoint (the run stops as an interruption would, to be resumed)")
    if args.command in ("check", "train", "bench") and not args.data:
        fail(f"{args.command} needs --data")
    if args.command == "check":
        if not args.golden:
            sys.exit("check needs --golden")
        sys.exit(0 if check(args, manifest, hw) else 1)
    if args.command == "refine":
        for need in ("train", "shifts"):
            if getattr(args, need) is None:
                fail(f"refine needs --{need}")
        refine(args, manifest, hw)
        return
    needs = ("weights", "train") if args.command == "bench" else ("weights", "train", "out", "shifts")
    for need in needs:
        if getattr(args, need) is None:
            fail(f"{args.command} needs --{need}")
    train(args, manifest, hw)


if __name__ == "__main__":
    main()
