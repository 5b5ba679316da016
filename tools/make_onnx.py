#!/usr/bin/env python3
"""Writes the ONNX fixtures of cimpool's import tests with the `onnx`
package, from numpy weights (no training framework involved):

- fixtures/digits/cnn.onnx: the digits CNN (fixtures/digits/cnn.npz) as
  Conv / Relu / MaxPool / Flatten / Gemm, the way torch.onnx exports it.
- fixtures/onnx/resblock.onnx: a small residual network with seeded random
  weights: Conv + BatchNormalization (epsilon 1e-3, not the default) + Relu,
  a padded 3x3 MaxPool, a basic block with a strided 3x3 conv and a 1x1 / 2
  downsample conv, each with BatchNormalization, Add, Relu, AveragePool,
  GlobalAveragePool, Flatten, MatMul + Add (the bias).
- fixtures/onnx/resblock_io.npz: inputs `x` (1x8x8, integers 0..16) and the
  float outputs `y` of the residual network computed here in numpy, which
  the import test compares cimpool's float evaluation against.
- fixtures/onnx/shuffle.onnx and shuffle_io.npz: a ShuffleNet-style unit
  with seeded random weights: channel shuffles (Reshape to (N, g, C/g, H,
  W), Transpose (0, 2, 1, 3, 4), Reshape back, as torchvision's
  channel_shuffle exports) before a depthwise conv, before a max pool and
  a 1x1 conv, and before the global pool and the classifier; grouped 1x1
  convs; and the numpy reference outputs.

Run: make venv && build/venv/bin/python tools/make_onnx.py
"""
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ROOT = Path(__file__).resolve().parent.parent
EPS = 1e-3


def conv(x, w, b=None, stride=1, pad=0):
    """NCHW convolution of x with OIHW weights."""
    n, c, h, wd = x.shape
    o, _, k, _ = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    oh, ow = (h + 2 * pad - k) // stride + 1, (wd + 2 * pad - k) // stride + 1
    y = np.zeros((n, o, oh, ow))
    for i in range(oh):
        for j in range(ow):
            patch = xp[:, :, i * stride : i * stride + k, j * stride : j * stride + k]
            y[:, :, i, j] = np.einsum("nchw,ochw->no", patch, w)
    if b is not None:
        y += b[None, :, None, None]
    return y


def bn(x, g, b, m, v):
    s = (g / np.sqrt(v + EPS))[None, :, None, None]
    return (x - m[None, :, None, None]) * s + b[None, :, None, None]


def pool(x, k, stride, pad, reduce):
    n, c, h, w = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), constant_values=-np.inf)
    oh, ow = (h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1
    y = np.zeros((n, c, oh, ow))
    for i in range(oh):
        for j in range(ow):
            y[:, :, i, j] = reduce(xp[:, :, i * stride : i * stride + k, j * stride : j * stride + k], axis=(2, 3))
    return y


def init(name, a):
    return numpy_helper.from_array(np.asarray(a, dtype=np.float32), name)


def save(graph, path):
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="cimpool tools/make_onnx.py")
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    print(f"wrote {path.relative_to(ROOT)}")


def digits_cnn():
    w = np.load(ROOT / "fixtures/digits/cnn.npz")
    nodes = [
        helper.make_node("Conv", ["x", "conv1.weight", "conv1.bias"], ["c1"], name="/conv1/Conv", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"], name="/relu1/Relu"),
        helper.make_node("MaxPool", ["r1"], ["p1"], name="/pool1/MaxPool", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Conv", ["p1", "conv2.weight", "conv2.bias"], ["c2"], name="/conv2/Conv", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c2"], ["r2"], name="/relu2/Relu"),
        helper.make_node("MaxPool", ["r2"], ["p2"], name="/pool2/MaxPool", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Flatten", ["p2"], ["f"], name="/flatten/Flatten", axis=1),
        helper.make_node("Gemm", ["f", "fc.weight", "fc.bias"], ["y"], name="/fc/Gemm", transB=1),
    ]
    inits = [init(k, w[k]) for k in ["conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias", "fc.weight", "fc.bias"]]
    graph = helper.make_graph(
        nodes,
        "digits_cnn",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])],
        inits,
    )
    save(graph, ROOT / "fixtures/digits/cnn.onnx")


def resblock():
    rng = np.random.default_rng(7)
    p = {}

    def conv_w(name, o, i, k):
        p[name] = rng.normal(0, np.sqrt(2 / (i * k * k)), (o, i, k, k))

    def bn_p(name, c):
        p[f"{name}.weight"] = 1 + rng.normal(0, 0.1, c)
        p[f"{name}.bias"] = rng.normal(0, 0.1, c)
        p[f"{name}.running_mean"] = rng.normal(0, 0.1, c)
        p[f"{name}.running_var"] = 1 + np.abs(rng.normal(0, 0.2, c))

    conv_w("conv1.weight", 8, 1, 3)
    bn_p("bn1", 8)
    conv_w("layer1.0.conv1.weight", 16, 8, 3)
    bn_p("layer1.0.bn1", 16)
    conv_w("layer1.0.conv2.weight", 16, 16, 3)
    bn_p("layer1.0.bn2", 16)
    conv_w("layer1.0.downsample.0.weight", 16, 8, 1)
    bn_p("layer1.0.downsample.1", 16)
    p["fc.weight"] = rng.normal(0, 0.3, (16, 10))  # MatMul: (in, out)
    p["fc.bias"] = rng.normal(0, 0.1, 10)

    def b(name):
        return [f"{name}.weight", f"{name}.bias", f"{name}.running_mean", f"{name}.running_var"]

    nodes = [
        helper.make_node("Conv", ["x", "conv1.weight"], ["c1"], name="/conv1/Conv", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["c1"] + b("bn1"), ["n1"], name="/bn1/BatchNormalization", epsilon=EPS),
        helper.make_node("Relu", ["n1"], ["r1"], name="/relu/Relu"),
        helper.make_node("MaxPool", ["r1"], ["m1"], name="/maxpool/MaxPool", kernel_shape=[3, 3], strides=[1, 1], pads=[1, 1, 1, 1]),
        helper.make_node("Conv", ["m1", "layer1.0.conv1.weight"], ["a1"], name="/layer1/layer1.0/conv1/Conv", kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["a1"] + b("layer1.0.bn1"), ["an1"], epsilon=EPS),
        helper.make_node("Relu", ["an1"], ["ar1"]),
        helper.make_node("Conv", ["ar1", "layer1.0.conv2.weight"], ["a2"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["a2"] + b("layer1.0.bn2"), ["an2"], epsilon=EPS),
        helper.make_node("Conv", ["m1", "layer1.0.downsample.0.weight"], ["d"], kernel_shape=[1, 1], strides=[2, 2]),
        helper.make_node("BatchNormalization", ["d"] + b("layer1.0.downsample.1"), ["dn"], epsilon=EPS),
        helper.make_node("Add", ["an2", "dn"], ["s"], name="/layer1/layer1.0/Add"),
        helper.make_node("Relu", ["s"], ["sr"], name="/layer1/layer1.0/relu/Relu"),
        helper.make_node("AveragePool", ["sr"], ["ap"], name="/avg/AveragePool", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("GlobalAveragePool", ["ap"], ["g"], name="/gap/GlobalAveragePool"),
        helper.make_node("Flatten", ["g"], ["f"], name="/flatten/Flatten", axis=1),
        helper.make_node("MatMul", ["f", "fc.weight"], ["mm"], name="/fc/MatMul"),
        helper.make_node("Add", ["mm", "fc.bias"], ["y"], name="/fc/Add"),
    ]
    graph = helper.make_graph(
        nodes,
        "resblock",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])],
        [init(k, v) for k, v in p.items()],
    )
    save(graph, ROOT / "fixtures/onnx/resblock.onnx")

    # The float reference, with the float32 weights the file holds.
    q = {k: v.astype(np.float32).astype(np.float64) for k, v in p.items()}
    x = rng.integers(0, 17, (16, 1, 8, 8)).astype(np.float64)
    h = x / 16
    h = np.maximum(bn(conv(h, q["conv1.weight"], pad=1), *[q[k] for k in b("bn1")]), 0)
    h = pool(h, 3, 1, 1, np.max)
    a = np.maximum(bn(conv(h, q["layer1.0.conv1.weight"], stride=2, pad=1), *[q[k] for k in b("layer1.0.bn1")]), 0)
    a = bn(conv(a, q["layer1.0.conv2.weight"], pad=1), *[q[k] for k in b("layer1.0.bn2")])
    d = bn(conv(h, q["layer1.0.downsample.0.weight"], stride=2), *[q[k] for k in b("layer1.0.downsample.1")])
    h = np.maximum(a + d, 0)
    h = pool(h, 2, 2, 0, np.mean)
    g = h.mean(axis=(2, 3))
    y = g @ q["fc.weight"] + q["fc.bias"]
    np.savez(ROOT / "fixtures/onnx/resblock_io.npz", x=x.reshape(16, -1).astype(np.int64), out=y.astype(np.float32))
    print("wrote fixtures/onnx/resblock_io.npz")


def grouped_conv(x, w, groups, b=None, pad=0):
    """A grouped convolution: group g's outputs read group g's inputs."""
    o, cg = w.shape[0], w.shape[1]
    per = o // groups
    ys = [conv(x[:, g * cg : (g + 1) * cg], w[g * per : (g + 1) * per], pad=pad) for g in range(groups)]
    y = np.concatenate(ys, axis=1)
    if b is not None:
        y += b[None, :, None, None]
    return y


def shuffle_np(x, groups):
    n, c, h, w = x.shape
    return x.reshape(n, groups, c // groups, h, w).transpose(0, 2, 1, 3, 4).reshape(n, c, h, w)


def shuffle_nodes(src, dst, groups, c, h, w, tag):
    """torchvision's channel_shuffle as exported: Reshape, Transpose, Reshape."""
    return [
        helper.make_node("Reshape", [src, f"{tag}.shape5"], [f"{tag}.v"], name=f"/{tag}/Reshape"),
        helper.make_node("Transpose", [f"{tag}.v"], [f"{tag}.t"], name=f"/{tag}/Transpose", perm=[0, 2, 1, 3, 4]),
        helper.make_node("Reshape", [f"{tag}.t", f"{tag}.shape4"], [dst], name=f"/{tag}/Reshape_1"),
    ], [
        numpy_helper.from_array(np.array([1, groups, c // groups, h, w], dtype=np.int64), f"{tag}.shape5"),
        numpy_helper.from_array(np.array([1, -1, h, w], dtype=np.int64), f"{tag}.shape4"),
    ]


def shuffle_unit():
    rng = np.random.default_rng(11)
    p = {
        "conv1.weight": rng.normal(0, 0.5, (8, 1, 3, 3)),
        "conv1.bias": rng.normal(0, 0.1, 8),
        "dw.weight": rng.normal(0, 0.4, (8, 1, 3, 3)),
        "dw.bias": rng.normal(0, 0.1, 8),
        "pw.weight": rng.normal(0, 0.5, (16, 4, 1, 1)),
        "pw.bias": rng.normal(0, 0.1, 16),
        "mix.weight": rng.normal(0, 0.3, (16, 16, 1, 1)),
        "mix.bias": rng.normal(0, 0.1, 16),
        "fc.weight": rng.normal(0, 0.3, (10, 16)),
        "fc.bias": rng.normal(0, 0.1, 10),
    }
    s1, i1 = shuffle_nodes("r1", "s1", 2, 8, 8, 8, "shuffle1")
    s2, i2 = shuffle_nodes("r2", "s2", 4, 16, 8, 8, "shuffle2")
    s3, i3 = shuffle_nodes("r3", "s3", 2, 16, 4, 4, "shuffle3")
    nodes = (
        [
            helper.make_node("Conv", ["x", "conv1.weight", "conv1.bias"], ["c1"], name="/conv1/Conv", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
            helper.make_node("Relu", ["c1"], ["r1"], name="/relu1/Relu"),
        ]
        + s1
        + [
            helper.make_node("Conv", ["s1", "dw.weight", "dw.bias"], ["c2"], name="/dw/Conv", kernel_shape=[3, 3], pads=[1, 1, 1, 1], group=8),
            # ShuffleNet has no ReLU here; the engine takes unsigned inputs.
            helper.make_node("Relu", ["c2"], ["r2dw"], name="/relu_dw/Relu"),
            helper.make_node("Conv", ["r2dw", "pw.weight", "pw.bias"], ["c3"], name="/pw/Conv", kernel_shape=[1, 1], group=2),
            helper.make_node("Relu", ["c3"], ["r2"], name="/relu2/Relu"),
        ]
        + s2
        + [
            helper.make_node("MaxPool", ["s2"], ["m2"], name="/pool/MaxPool", kernel_shape=[2, 2], strides=[2, 2]),
            helper.make_node("Conv", ["m2", "mix.weight", "mix.bias"], ["c4"], name="/mix/Conv", kernel_shape=[1, 1]),
            helper.make_node("Relu", ["c4"], ["r3"], name="/relu3/Relu"),
        ]
        + s3
        + [
            helper.make_node("GlobalAveragePool", ["s3"], ["g"], name="/gap/GlobalAveragePool"),
            helper.make_node("Flatten", ["g"], ["f"], name="/flatten/Flatten", axis=1),
            helper.make_node("Gemm", ["f", "fc.weight", "fc.bias"], ["y"], name="/fc/Gemm", transB=1),
        ]
    )
    graph = helper.make_graph(
        nodes,
        "shuffle_unit",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])],
        [init(k, v) for k, v in p.items()] + i1 + i2 + i3,
    )
    save(graph, ROOT / "fixtures/onnx/shuffle.onnx")

    q = {k: v.astype(np.float32).astype(np.float64) for k, v in p.items()}
    x = rng.integers(0, 17, (16, 1, 8, 8)).astype(np.float64)
    h = np.maximum(conv(x / 16, q["conv1.weight"], q["conv1.bias"], pad=1), 0)
    h = shuffle_np(h, 2)
    h = np.maximum(grouped_conv(h, q["dw.weight"], 8, q["dw.bias"], pad=1), 0)
    h = np.maximum(grouped_conv(h, q["pw.weight"], 2, q["pw.bias"]), 0)
    h = shuffle_np(h, 4)
    h = pool(h, 2, 2, 0, np.max)
    h = np.maximum(conv(h, q["mix.weight"], q["mix.bias"]), 0)
    h = shuffle_np(h, 2)
    g = h.mean(axis=(2, 3))
    y = g @ q["fc.weight"].T + q["fc.bias"]
    np.savez(ROOT / "fixtures/onnx/shuffle_io.npz", x=x.reshape(16, -1).astype(np.int64), out=y.astype(np.float32))
    print("wrote fixtures/onnx/shuffle_io.npz")


if __name__ == "__main__":
    digits_cnn()
    resblock()
    shuffle_unit()
