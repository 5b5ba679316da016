#!/usr/bin/env python3
"""Would per-lane scales pay? Weight reconstruction of a pool-engine network with one alpha and beta per layer against one per output channel.

The pool engine holds each weight as alpha x pool bit + beta x error bit
(the error bit only in kept tiles), with one alpha and one beta per layer
(docs/SPEC.md section 3). A per-lane (per-output-channel) alpha and beta is
a hardware change; this measures what it could buy before building it. For
every engine layer of a compressed network it takes the pool vectors, error
signs and kept tiles compress chose (tools/projection.py, which rebuilds
compress's choices exactly) and reports the signal-to-quantization-noise
ratio of the weights, sum w^2 / sum (w - w_hat)^2 in dB, with
  - layer:     compress's own alpha and beta (the images' scales);
  - layer LS:  the least-squares alpha and beta of the layer;
  - lane LS:   the least-squares alpha and beta of each output channel;
and the spread of the channels' RMS (largest / smallest). With the same
choices, lane LS >= layer LS >= layer always (each is the best over a
larger set), so the columns bound what per-lane scales gain.

  python3 lane_scales.py --images DIR --weights DIR/folded.npz [--choices C.npz] [--json]

DIR: a pool-engine folder of `cimpool compress --write-folded` (its
manifest.json, pool.npy, report.json); --weights: the weights it was made
from, BatchNorm folded; --choices: the pool indices and kept tiles the
images were pinned to (`compress --choices`, as `make train` writes its
trained images).
"""
import argparse
import json
from pathlib import Path

import numpy as np

from adc_train import fail, torch_to_engine
from projection import pool_parts


def sqnr_db(w, w_hat):
    noise = float(((w.astype(np.float64) - w_hat) ** 2).sum())
    signal = float((w.astype(np.float64) ** 2).sum())
    return float("inf") if noise == 0 else 10.0 * np.log10(signal / noise)


def least_squares(w, p, e):
    """w ~ a p + b e over the rows given (each a flat vector): the
    reconstruction of the best a and b."""
    x = np.stack([p, e], axis=1).astype(np.float64)
    coef, *_ = np.linalg.lstsq(x, w.astype(np.float64), rcond=None)
    return x @ coef


def layer_row(layer, w, pool, keep, choices=None):
    out, fan_in = w.shape
    p, e, mask, alpha, beta, _ = pool_parts(w, pool, keep, choices)
    pool_part = p.reshape(out, -1)[:, :fan_in]
    error_part = (mask[:, :, None] * e).reshape(out, -1)[:, :fan_in]
    compressed = alpha * pool_part + beta * error_part
    layer_ls = least_squares(w.ravel(), pool_part.ravel(), error_part.ravel()).reshape(w.shape)
    lane_ls = np.stack([least_squares(w[c], pool_part[c], error_part[c]) for c in range(out)])
    rms = np.sqrt((w.astype(np.float64) ** 2).mean(axis=1))
    spread = float(rms.max() / rms.min()) if rms.min() > 0 else float("inf")
    return {
        "layer": layer["name"],
        "weights": int(w.size),
        "channel_rms_spread": spread,
        "sqnr_db": {"layer": sqnr_db(w, compressed), "layer_ls": sqnr_db(w, layer_ls), "lane_ls": sqnr_db(w, lane_ls)},
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--images", required=True, help="a pool-engine folder of cimpool compress")
    ap.add_argument("--weights", required=True, help="the weights the images were made from, BatchNorm folded (.npz)")
    ap.add_argument("--choices", help="the pool indices and kept tiles the images were pinned to (compress --choices), instead of choosing them again")
    ap.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = ap.parse_args()
    images = Path(args.images)
    for name in ("manifest.json", "report.json", "cim_config.toml"):
        if not (images / name).is_file():
            fail(f"--images {images}: no {name}: give a folder `cimpool compress` wrote")
    if 'engine = "dense"' in (images / "cim_config.toml").read_text():
        fail(f"--images {images}: a dense-engine folder; per-lane scales are measured for the pool engine")
    if not (images / "pool.npy").is_file():
        fail(f"--images {images}: no pool.npy: give a folder `cimpool compress` wrote")
    manifest = json.loads((images / "manifest.json").read_text())
    keep = json.loads((images / "report.json").read_text())["keep_ratio"]
    pool = np.load(images / "pool.npy").astype(np.float32)
    try:
        tensors = dict(np.load(args.weights))
    except (OSError, ValueError) as e:
        fail(f"--weights {args.weights}: not a readable .npz ({e})")
    choices = None
    if args.choices:
        try:
            choices = dict(np.load(args.choices))
        except (OSError, ValueError) as e:
            fail(f"--choices {args.choices}: not a readable .npz ({e})")
    rows = []
    for layer in manifest["layers"]:
        if layer["host"]:
            continue
        name = f"{layer['name']}.weight"
        if name not in tensors:
            fail(f"--weights {args.weights}: no `{name}`: give the folded weights the images were made from (compress --write-folded)")
        t = tensors[name].astype(np.float32)
        if t.size != layer["out_channels"] * layer["geometry"]["in_c"] * layer["geometry"]["kernel_h"] * layer["geometry"]["kernel_w"]:
            fail(f"--weights {args.weights}: `{name}` has {t.size} values where layer `{layer['name']}` has another size")
        pinned = None
        if choices is not None:
            n = layer["name"]
            if f"{n}.index" not in choices or f"{n}.mask" not in choices:
                fail(f"--choices {args.choices}: no `{n}.index` / `{n}.mask`: give the choices the images were made with")
            pinned = (choices[f"{n}.index"].astype(np.int64), choices[f"{n}.mask"].astype(bool))
            shape = (layer["out_channels"], -(-t.size // layer["out_channels"] // pool.shape[1]))
            if pinned[0].shape != shape or pinned[1].shape != shape:
                fail(f"--choices {args.choices}: `{n}` has choices of shape {pinned[0].shape} where the layer has (channels, row blocks) {shape}")
        rows.append(layer_row(layer, torch_to_engine(t, layer), pool, keep, pinned))
    if args.json:
        print(json.dumps({"keep": keep, "layers": rows}, indent=1))
        return
    print(f"weight SQNR per engine layer, keep {keep:.3f} (dB; the same pool vectors, error signs and kept tiles in every column)")
    print(f"{'layer':24s} {'weights':>8s} {'RMS spread':>10s} {'layer':>7s} {'layer LS':>9s} {'lane LS':>8s} {'gain':>6s}")
    for r in rows:
        s = r["sqnr_db"]
        print(f"{r['layer']:24s} {r['weights']:8d} {r['channel_rms_spread']:9.1f}x {s['layer']:7.2f} {s['layer_ls']:9.2f} {s['lane_ls']:8.2f} {s['lane_ls'] - s['layer']:+6.2f}")


if __name__ == "__main__":
    main()
