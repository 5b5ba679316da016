#!/usr/bin/env python3
"""Would BatchNorm re-estimation after folding pay? Each channel's statistics of a compressed network set back to the float network's, layer by layer.

BatchNorm is folded into the weights and biases before compression
(docs/COMPRESSION.md), so re-estimating it after compression means moving
each output channel of the compressed network back to the float network's
statistics on the calibration inputs, one layer at a time in the network's
order, each with the layers before it already corrected:
  - means:     each channel's pre-activation mean set to the float
               network's through its bias (BatchNorm's shift re-estimated).
               The engine holds one bias per lane.
  - layer_scale: the means, and the whole layer scaled so that its
               channels' variance in all equals the float network's
               (BatchNorm's scale re-estimated as far as one alpha and beta
               per layer hold it: the weights scaled, alpha and beta with
               them).
  - channel_scale: the means, and each channel scaled to the float network's
               standard deviation (BatchNorm's scale re-estimated). One
               alpha and beta per layer cannot hold a per-channel scale, so
               this is an upper bound of what re-estimation could buy, not
               a network the hardware runs.
It reports the test accuracy of the float, the compressed and the three
corrected networks in float arithmetic (the effective weights cimpool
makes, no activation quantization: compress --eval's "compressed (float
arithmetic)" column), and per layer how closely each corrected network's
pre-activations follow the float network's (the mean over channels of
their correlation on the calibration inputs, and the median ratio of their
standard deviations). No per-channel affine correction can restore a
correlation that is gone.

--out writes the `layer_scale` network's weights (the folded weights scaled per
layer, the corrected biases): compress them with the folder's pool
(`--pool DIR/pool.npy`) and its keep ratio, and compress --eval's float
arithmetic column is this tool's `layer_scale` accuracy.

  python3 bn_reestimate.py --images DIR --calib calib.npz --data test.npz [--out corrected.npz] [--json]

DIR: a folder of `cimpool compress --write-folded` (its manifest.json,
engine, pool.npy or dense images, folded.npz): the weights it was made
from are DIR/folded.npz, and the compression is rebuilt from them exactly
(tools/projection.py) with the folder's own keep ratio.
"""
import argparse
import json
from pathlib import Path

import numpy as np

from adc_train import Hardware, Projector, exported_layers, fail, forward_float, load_data, run_batches, torch_to_engine


def pre_activation(manifest, layers, x, target):
    """Layer `target`'s output before its ReLU, as (samples x positions, channels)."""
    upto = []
    for node in manifest["nodes"]:
        upto.append(node)
        if node["op"] == "layer" and node["layer"] == target:
            break
    lay = list(layers)
    lay[target] = {**layers[target], "relu": False}
    v = np.asarray(forward_float({**manifest, "nodes": upto}, lay, x), np.float64)
    return v.reshape(-1, layers[target]["eff"].shape[0])


def accuracy(manifest, layers, x, y):
    p = run_batches(lambda xb: forward_float(manifest, layers, xb), x, 500)
    return 100.0 * float((p.argmax(1) == y).mean())


def correct(manifest, targets, layers, x, scale):
    """The compressed layers with every channel moved to the mean of the
    float network's pre-activations `targets` (layer -> values on x), after
    a scale (None, "layer" or "channel"), in the network's order; per layer
    the correlation and standard-deviation ratio left after it, and each
    layer's weight scale (for --out)."""
    layers, rows, scales = list(layers), [], {}
    for li, vf in targets.items():
        L = dict(layers[li])
        if scale is not None:
            vc = pre_activation(manifest, layers, x, li)
            sf, sc = vf.std(0), vc.std(0)
            if scale == "layer":
                s = np.full(sf.shape, np.sqrt((sf**2).sum() / (sc**2).sum()) if (sc**2).sum() > 0 else 1.0)
            else:
                s = np.where(sc > 0, sf / np.maximum(sc, 1e-30), 1.0)
            L["eff"] = (np.asarray(L["eff"]) * s[:, None]).astype(np.float32)
            L["bias_f"] = (np.asarray(L["bias_f"]) * s).astype(np.float32)
            scales[li] = s
            layers[li] = L
        vc = pre_activation(manifest, layers, x, li)
        L["bias_f"] = (np.asarray(L["bias_f"], np.float64) + vf.mean(0) - vc.mean(0)).astype(np.float32)
        layers[li] = L
        vc = pre_activation(manifest, layers, x, li)
        live = (vf.std(0) > 0) & (vc.std(0) > 0)
        corr = [np.corrcoef(vf[:, c], vc[:, c])[0, 1] for c in np.flatnonzero(live)]
        rows.append({
            "layer": manifest["layers"][li]["name"],
            "correlation": float(np.mean(corr)) if corr else 0.0,
            "std_ratio": float(np.median(vc.std(0)[live] / vf.std(0)[live])) if live.any() else 0.0,
        })
    return layers, rows, scales


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--images", required=True, help="a folder of cimpool compress --write-folded")
    ap.add_argument("--calib", required=True, help="the calibration inputs the statistics are taken on (.npz with x, as compress --calib)")
    ap.add_argument("--data", required=True, help="labelled test data: .npz with x, y, or an IDX images file next to its labels")
    ap.add_argument("--out", help="the network with the means and a scale per layer re-estimated (.npz: the folded weights scaled per layer, the corrected biases), for cimpool compress with the folder's pool")
    ap.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = ap.parse_args()
    images = Path(args.images)
    for name in ("manifest.json", "report.json", "cim_config.toml", "engine.npz", "folded.npz"):
        if not (images / name).is_file():
            hint = f" and its export (cimpool export --images {images} --out {images / 'engine.npz'})" if name == "engine.npz" else ""
            fail(f"--images {images}: no {name}: give a folder of `cimpool compress --write-folded`{hint}")
    manifest = json.loads((images / "manifest.json").read_text())
    hw = Hardware(images)
    keep = json.loads((images / "report.json").read_text())["keep_ratio"]
    exported = exported_layers(manifest, images / "engine.npz", hw)
    proj = Projector(manifest, hw, images, None if hw.dense else images / "pool.npy", keep)
    tensors = dict(np.load(images / "folded.npz"))
    try:
        xc = np.load(args.calib)["x"]
    except (OSError, ValueError, KeyError) as e:
        fail(f"--calib {args.calib}: not an .npz with x ({e})")
    xc = xc.reshape(len(xc), -1).astype(np.float64)
    try:
        x, y = load_data(args.data)
    except (OSError, ValueError, KeyError) as e:
        fail(f"--data {args.data}: not labelled data (.npz with x, y, or an IDX images file next to its labels: {e})")
    reference, compressed = list(exported), list(exported)
    for li, l in enumerate(manifest["layers"]):
        n = l["name"]
        w = torch_to_engine(tensors[f"{n}.weight"].astype(np.float32), l)
        b = tensors[f"{n}.bias"].astype(np.float32)
        reference[li] = {**exported[li], "eff": w, "bias_f": b}
        compressed[li] = proj.host_layer(li, w, b, exported[li]) if l["host"] else proj.layer(li, w, b, exported[li])
    # The float network's pre-activations, in the network's order, once for all three corrections.
    targets = {node["layer"]: pre_activation(manifest, reference, xc, node["layer"]) for node in manifest["nodes"] if node["op"] == "layer"}
    corrected = {mode: correct(manifest, targets, compressed, xc, scale) for mode, scale in (("means", None), ("layer_scale", "layer"), ("channel_scale", "channel"))}
    result = {
        "keep": keep,
        "calibration_samples": len(xc),
        "test_samples": len(x),
        "accuracy": {"float": accuracy(manifest, reference, x, y), "compressed": accuracy(manifest, compressed, x, y)}
        | {mode: accuracy(manifest, c[0], x, y) for mode, c in corrected.items()},
        "layers": [
            {"layer": rows[0]["layer"]} | {mode: {k: r[k] for k in ("correlation", "std_ratio")} for mode, r in zip(corrected, rows)}
            for rows in zip(*(c[1] for c in corrected.values()))
        ],
    }
    if args.out:
        layers, _, scales = corrected["layer_scale"]
        out = dict(tensors)
        for li, l in enumerate(manifest["layers"]):
            n = l["name"]
            out[f"{n}.weight"] = (tensors[f"{n}.weight"].astype(np.float32) * np.float32(scales[li][0])).astype(np.float32)
            out[f"{n}.bias"] = np.asarray(layers[li]["bias_f"], np.float32)
        np.savez(args.out, **out)
    if args.json:
        print(json.dumps(result, indent=1))
        return
    a = result["accuracy"]
    print(f"float arithmetic, {len(x)} test samples: float {a['float']:.2f}%, compressed {a['compressed']:.2f}%; re-estimated: "
          f"means {a['means']:.2f}%, means and a scale per layer {a['layer_scale']:.2f}%, means and a scale per channel (an upper bound) {a['channel_scale']:.2f}%")
    print(f"each corrected network's pre-activations against the float network's, on {len(xc)} calibration samples: correlation / std ratio")
    print(f"{'layer':24s} {'means':>13s} {'layer scale':>13s} {'channel scale':>13s}")
    for r in result["layers"]:
        print(f"{r['layer']:24s}" + "".join(f" {r[m]['correlation']:6.3f} {r[m]['std_ratio']:6.3f}" for m in corrected))
    if args.out:
        pool = "" if hw.dense else f", with --pool {images / 'pool.npy'}"
        print(f"wrote {args.out}: the folded weights scaled per layer, the corrected biases (cimpool compress --weights{pool})")


if __name__ == "__main__":
    main()
