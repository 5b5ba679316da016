#!/usr/bin/env python3
"""Trains the small MLP that cimpool's compression tests and README figures use.

Data: the handwritten digits set that ships inside scikit-learn
(`load_digits`, 1,797 8x8 images, pixel values 0..16). Split 80/20 with a
fixed seed; the network sees pixels / 16.

Writes (all small, committed as fixtures so tests need no training):
  fixtures/digits/mlp.npz          float32 weights, PyTorch state-dict names
  fixtures/digits/mlp.safetensors  the same tensors as safetensors
  fixtures/digits/test.npz         x: uint8 (360, 64) raw pixels, y: int64 labels
  fixtures/digits/calib.npz        x: uint8 (256, 64) training pixels for activation ranges
  fixtures/digits/model.toml       the layer description cimpool reads

Run: make venv && build/venv/bin/python tools/train_digits.py
"""
import json
import struct
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier

OUT = Path(__file__).resolve().parent.parent / "fixtures" / "digits"
HIDDEN = (128, 128)


def write_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    for name, a in tensors.items():
        data = np.ascontiguousarray(a, dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def split():
    """Raw pixels (0..16) and labels: x_train, x_test, y_train, y_test."""
    x, y = load_digits(return_X_y=True)
    return train_test_split(x, y, test_size=0.2, random_state=0, stratify=y)


def main():
    x_train, x_test, y_train, y_test = split()
    clf = MLPClassifier(hidden_layer_sizes=HIDDEN, activation="relu", max_iter=500, random_state=0)
    clf.fit(x_train / 16.0, y_train)
    acc = clf.score(x_test / 16.0, y_test)
    print(f"float test accuracy: {acc * 100:.2f}% on {len(y_test)} images")

    tensors = {}
    for i, (w, b) in enumerate(zip(clf.coefs_, clf.intercepts_), start=1):
        tensors[f"fc{i}.weight"] = w.T.astype(np.float32)  # (out, in), as torch.nn.Linear
        tensors[f"fc{i}.bias"] = b.astype(np.float32)
    OUT.mkdir(parents=True, exist_ok=True)
    np.savez(OUT / "mlp.npz", **tensors)
    write_safetensors(OUT / "mlp.safetensors", tensors)
    np.savez(OUT / "test.npz", x=x_test.astype(np.uint8), y=y_test.astype(np.int64))
    np.savez(OUT / "calib.npz", x=x_train[:256].astype(np.uint8))
    layers = len(clf.coefs_)
    lines = [
        "# The digits MLP of tools/train_digits.py: inputs are pixels 0..16, the net saw pixels / 16.",
        f"# Float test accuracy {acc * 100:.2f}% (scikit-learn MLPClassifier, random_state 0).",
        "input_scale = 0.0625",
        "",
    ]
    for i in range(1, layers + 1):
        lines += ["[[layer]]", f'name = "fc{i}"', 'kind = "fc"', f"relu = {'true' if i < layers else 'false'}", ""]
    (OUT / "model.toml").write_text("\n".join(lines))


if __name__ == "__main__":
    main()
