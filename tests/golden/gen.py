#!/usr/bin/python3
"""PyTorch golden files for sinapsi's ops: inputs, output, gradients.

Run with Debian's PyTorch (python3-torch), or through `make golden`:

    /usr/bin/python3 tests/golden/gen.py tests/golden

Writes one small safetensors file per op and case into the directory, after
deleting the *.safetensors files already there (so a renamed case leaves no
stale file). Each file holds

    in0, in1, ...    the op's inputs, in the order of its sinapsi builder
    out              the op's output
    dout             the seed of backward: random for a tensor output, 1 for a
                     scalar loss
    grad_in0, ...    d(sum(out * dout)) / d(inK) by torch autograd, for every
                     input that takes a gradient (not for loss targets)
    inK_after        for an input that is a buffer (batch_norm's running
                     statistics), its value after the forward: the running
                     mean, variance and batch count after one training step

and __metadata__ with "op" and the attributes the C side needs to build the same
node ("stride": "3,2", "padding", "kernel", "count_include_pad", "negative_slope",
"reduction", "shape"; batch_norm: "training", "momentum", "eps", "affine",
"track_running_stats", and "buffers", the indices of the inputs that are
buffers), plus "generator" and "torch".

Inputs are float32 drawn with a seed derived from the case name (adding a case
changes no other file). Outputs and gradients are computed in float64 from those
float32 inputs and stored as float32, so each reference is the correctly rounded
value and the C test's tolerance measures sinapsi alone. Class targets of nll
and cross_entropy are stored as float32 tensors holding the class indices.

The safetensors package is not in Debian, so this file has its own writer; it
follows the reference layout (header padded with spaces to a multiple of 8).
"""

import os
import sys
import zlib

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pyutil"))
from safetensors_writer import write_safetensors  # noqa: E402


def pair(v):
    return "%d,%d" % (v if isinstance(v, tuple) else (v, v))


class Case:
    """One golden file: builds its inputs under its own seed, runs torch."""

    def __init__(self, name, op, inputs, fn, attrs=None, grad=None, buffers=()):
        self.name = name
        self.op = op
        self.inputs = inputs  # callables returning float32 tensors, in order
        self.fn = fn          # f(*float64 inputs) -> output
        self.attrs = attrs or {}
        self.grad = grad      # indices of inputs that take a gradient (default all)
        self.buffers = buffers  # indices of inputs that fn may update in place

    def write(self, directory):
        torch.manual_seed(zlib.crc32(self.name.encode()))
        inputs32 = [make() for make in self.inputs]
        grad = range(len(inputs32)) if self.grad is None else self.grad
        inputs64 = []
        for k, x in enumerate(inputs32):
            x64 = x.to(torch.float64)
            x64.requires_grad_(k in grad)
            inputs64.append(x64)
        out = self.fn(*inputs64)
        if out.dim() == 0:
            dout = torch.ones((), dtype=torch.float32)
        else:
            dout = torch.randn(out.shape, dtype=torch.float32)
        out.backward(dout.to(torch.float64))
        tensors = [("in%d" % k, x) for k, x in enumerate(inputs32)]
        tensors += [("out", out), ("dout", dout)]
        tensors += [("grad_in%d" % k, inputs64[k].grad) for k in grad]
        tensors += [("in%d_after" % k, inputs64[k]) for k in self.buffers]
        metadata = {"op": self.op, "generator": "tests/golden/gen.py",
                    "torch": torch.__version__}
        metadata.update({k: str(v) for k, v in self.attrs.items()})
        write_safetensors(os.path.join(directory, self.name + ".safetensors"), tensors, metadata)


def randn(*shape, scale=1.0, shift=0.0):
    return lambda: torch.randn(shape, dtype=torch.float32) * scale + shift


def uniform(*shape, low=0.0, high=1.0):
    return lambda: torch.rand(shape, dtype=torch.float32) * (high - low) + low


def probabilities(*shape):
    """Values in (0, 1) away from the ends, as a sigmoid output would be."""
    return lambda: torch.sigmoid(torch.randn(shape, dtype=torch.float32) * 2)


def log_probabilities(*shape):
    return lambda: torch.log_softmax(torch.randn(shape, dtype=torch.float32), dim=1)


def classes(n, c):
    return lambda: torch.randint(0, c, (n,)).to(torch.float32)


def fixed(values):
    return lambda: torch.tensor(values, dtype=torch.float32)


def linear_cases():
    cases = []
    for n, fin, fout, bias in [(1, 3, 2, True), (5, 7, 3, True), (4, 5, 6, False),
                               (1, 1, 1, False), (3, 9, 1, True)]:
        name = "linear_n%d_in%d_out%d%s" % (n, fin, fout, "" if bias else "_nobias")
        inputs = [randn(n, fin), randn(fout, fin, scale=0.5)]
        if bias:
            inputs.append(randn(fout))
        cases.append(Case(name, "linear", inputs, lambda *a: F.linear(*a)))
    return cases


def add_cases():
    shapes = [((2, 3), (2, 3)), ((5, 7), (7,)), ((2, 3, 4, 5), (3, 1, 1)),
              ((4,), (3, 4)), ((4, 1), (1, 5)), ((2, 3, 2, 2), (1,))]
    cases = []
    for a, b in shapes:
        name = "add_%s_%s" % ("x".join(map(str, a)), "x".join(map(str, b)))
        cases.append(Case(name, "add", [randn(*a), randn(*b)], lambda x, y: x + y))
    return cases


def conv2d_cases():
    # (N, C_in, H, W, C_out, kernel, stride, padding, bias)
    configs = [
        (1, 1, 5, 5, 1, (1, 1), (1, 1), (0, 0), True),
        (2, 3, 6, 7, 4, (3, 3), (1, 1), (1, 1), True),
        (2, 2, 7, 6, 3, (3, 2), (3, 2), (1, 0), True),
        (1, 1, 4, 5, 2, (2, 3), (1, 1), (0, 2), False),
        (2, 3, 8, 8, 8, (5, 5), (2, 1), (1, 1), True),
        (1, 2, 9, 7, 5, (4, 3), (2, 2), (0, 0), False),
        (2, 1, 6, 6, 6, (5, 3), (1, 2), (2, 1), True),
        (1, 3, 5, 4, 2, (1, 2), (2, 3), (1, 0), True),
        (2, 2, 5, 5, 3, (2, 2), (1, 1), (1, 1), False),
    ]
    cases = []
    for n, cin, h, w, cout, k, s, p, bias in configs:
        name = "conv2d_s%d%d_p%d%d_k%dx%d_n%d_c%dto%d%s" % (
            s + p + k + (n, cin, cout) + ("" if bias else "_nobias",))
        inputs = [randn(n, cin, h, w), randn(cout, cin, *k, scale=0.3)]
        if bias:
            inputs.append(randn(cout))
        cases.append(Case(name, "conv2d", inputs,
                          lambda *a, s=s, p=p: F.conv2d(*a, stride=s, padding=p),
                          {"stride": pair(s), "padding": pair(p)}))
    # The course's worked example: [[0,1,2],[3,4,5],[6,7,8]] padded by 1, kernel
    # [[0,1],[2,3]], stride 3 vertically and 2 horizontally gives [[0,8],[6,8]].
    cases.append(Case("conv2d_course_example", "conv2d",
                      [fixed([[[[0, 1, 2], [3, 4, 5], [6, 7, 8]]]]), fixed([[[[0, 1], [2, 3]]]])],
                      lambda x, w: F.conv2d(x, w, stride=(3, 2), padding=1),
                      {"stride": "3,2", "padding": "1,1"}))
    return cases


def pool_cases():
    cases = []
    # (shape, kernel, stride, padding)
    for shape, k, s, p in [((2, 3, 6, 6), (2, 2), (2, 2), (0, 0)),
                           ((1, 2, 7, 7), (3, 3), (2, 2), (1, 1)),
                           ((2, 1, 5, 6), (2, 3), (1, 2), (0, 1)),
                           ((1, 1, 5, 5), (3, 3), (1, 1), (1, 1)),
                           ((1, 2, 4, 5), (2, 2), (1, 1), (0, 0))]:
        name = "maxpool2d_k%dx%d_s%d%d_p%d%d" % (k + s + p)
        cases.append(Case(name, "maxpool2d", [randn(*shape)],
                          lambda x, k=k, s=s, p=p: F.max_pool2d(x, k, s, p),
                          {"kernel": pair(k), "stride": pair(s), "padding": pair(p)}))
    for shape, k, s, p in [((2, 3, 6, 6), (2, 2), (2, 2), (0, 0)),
                           ((1, 2, 7, 7), (3, 3), (2, 2), (1, 1)),
                           ((2, 1, 5, 6), (3, 2), (1, 2), (1, 1)),
                           ((1, 1, 4, 4), (2, 2), (1, 1), (1, 0))]:
        for include in (1, 0):
            name = "avgpool2d_k%dx%d_s%d%d_p%d%d" % (k + s + p)
            if p != (0, 0):
                name += "_include_pad" if include else "_exclude_pad"
            elif not include:
                continue  # without padding both ways are the same
            cases.append(Case(name, "avgpool2d", [randn(*shape)],
                              lambda x, k=k, s=s, p=p, i=include: F.avg_pool2d(
                                  x, k, s, p, count_include_pad=bool(i)),
                              {"kernel": pair(k), "stride": pair(s), "padding": pair(p),
                               "count_include_pad": include}))
    return cases


def shape_cases():
    return [
        Case("flatten_2x3x4x5", "flatten", [randn(2, 3, 4, 5)], lambda x: torch.flatten(x, 1)),
        Case("flatten_1x2x3", "flatten", [randn(1, 2, 3)], lambda x: torch.flatten(x, 1)),
        Case("reshape_2x3x4_to_4x-1", "reshape", [randn(2, 3, 4)], lambda x: x.reshape(4, -1),
             {"shape": "4,-1"}),
    ]


def activation_cases():
    unary = [
        ("relu", {}, F.relu),
        ("leaky_relu", {"negative_slope": "0.01"}, lambda x: F.leaky_relu(x, 0.01)),
        ("sigmoid", {}, torch.sigmoid),
        ("tanh", {}, torch.tanh),
        ("softmax", {}, lambda x: F.softmax(x, dim=1)),
        ("log_softmax", {}, lambda x: F.log_softmax(x, dim=1)),
    ]
    cases = []
    for op, attrs, fn in unary:
        for shape in [(3, 5), (2, 3, 2, 3)]:
            name = "%s_%s" % (op, "x".join(map(str, shape)))
            cases.append(Case(name, op, [randn(*shape, scale=2.0)], fn, attrs))
    cases.append(Case("leaky_relu_slope0.2_4x4", "leaky_relu", [randn(4, 4)],
                      lambda x: F.leaky_relu(x, 0.2), {"negative_slope": "0.2"}))
    # Large logits: only a max-subtracted softmax stays finite.
    for op, fn in [("softmax", lambda x: F.softmax(x, dim=1)),
                   ("log_softmax", lambda x: F.log_softmax(x, dim=1))]:
        cases.append(Case(op + "_large_4x6", op, [randn(4, 6, scale=20.0, shift=100.0)], fn))
    # Saturated sigmoid/tanh: gradients must underflow to ~0, not become NaN.
    for op, fn in [("sigmoid", torch.sigmoid), ("tanh", torch.tanh)]:
        cases.append(Case(op + "_saturated_2x4", op,
                          [fixed([[-30, -12, 12, 30], [-0.5, 0.25, 3, -3]])], fn))
    return cases


def loss_cases():
    cases = []
    for reduction in ("mean", "sum"):
        attrs = {"reduction": reduction}
        cases += [
            Case("mse_3x4_" + reduction, "mse", [randn(3, 4), randn(3, 4)],
                 lambda x, y, r=reduction: F.mse_loss(x, y, reduction=r), attrs, grad=[0]),
            Case("bce_4x3_" + reduction, "bce", [probabilities(4, 3), uniform(4, 3)],
                 lambda p, y, r=reduction: F.binary_cross_entropy(p, y, reduction=r), attrs,
                 grad=[0]),
            Case("bce_with_logits_4x3_" + reduction, "bce_with_logits",
                 [randn(4, 3, scale=3.0), uniform(4, 3)],
                 lambda x, y, r=reduction: F.binary_cross_entropy_with_logits(x, y, reduction=r),
                 attrs, grad=[0]),
            Case("nll_5x4_" + reduction, "nll", [log_probabilities(5, 4), classes(5, 4)],
                 lambda lp, t, r=reduction: F.nll_loss(lp, t.long(), reduction=r), attrs,
                 grad=[0]),
            Case("cross_entropy_5x4_" + reduction, "cross_entropy",
                 [randn(5, 4, scale=2.0), classes(5, 4)],
                 lambda x, t, r=reduction: F.cross_entropy(x, t.long(), reduction=r), attrs,
                 grad=[0]),
        ]
    cases += [
        Case("mse_1_mean", "mse", [randn(1), randn(1)],
             lambda x, y: F.mse_loss(x, y), {"reduction": "mean"}, grad=[0]),
        Case("bce_with_logits_large_2x3_mean", "bce_with_logits",
             [fixed([[-40, 35, 0.5], [60, -0.25, -90]]), fixed([[0, 1, 1], [0.5, 0, 1]])],
             lambda x, y: F.binary_cross_entropy_with_logits(x, y), {"reduction": "mean"},
             grad=[0]),
        Case("cross_entropy_1x3_mean", "cross_entropy", [randn(1, 3), classes(1, 3)],
             lambda x, t: F.cross_entropy(x, t.long()), {"reduction": "mean"}, grad=[0]),
        Case("cross_entropy_large_3x5_sum", "cross_entropy",
             [randn(3, 5, scale=30.0, shift=50.0), classes(3, 5)],
             lambda x, t: F.cross_entropy(x, t.long(), reduction="sum"), {"reduction": "sum"},
             grad=[0]),
    ]
    return cases


def batch_norm_fn(c, training, momentum, eps, affine, track):
    """The real nn.BatchNorm1d/2d module (float64), its weight, bias and
    buffers swapped for the case's inputs so that autograd sees them and the
    running statistics it updates in place are the ones written out."""
    def run(x, *rest):
        module = (nn.BatchNorm2d if x.dim() == 4 else nn.BatchNorm1d)(
            c, eps=eps, momentum=momentum, affine=affine, track_running_stats=track).double()
        rest = list(rest)
        if affine:
            del module.weight, module.bias
            module.weight, module.bias = rest.pop(0), rest.pop(0)
        if track:
            module.running_mean, module.running_var = rest[0], rest[1]
            module.num_batches_tracked = rest[2].detach().long()
        module.train(training)
        out = module(x)
        if track:
            with torch.no_grad():
                rest[2].copy_(module.num_batches_tracked)
        return out
    return run


def batch_norm_cases():
    cases = []
    # (shape, training, momentum, eps, affine, track_running_stats, batches seen)
    configs = [
        ((4, 3), True, 0.1, 1e-5, True, True, 0),
        ((4, 3), False, 0.1, 1e-5, True, True, 7),
        ((2, 3, 5), True, 0.1, 1e-5, True, True, 2),
        ((2, 3, 5), False, 0.1, 1e-5, True, True, 2),
        ((2, 3, 4, 5), True, 0.1, 1e-5, True, True, 0),
        ((2, 3, 4, 5), False, 0.1, 1e-5, True, True, 11),
        ((3, 2, 3, 3), True, 0.3, 1e-3, False, True, 4),
        ((3, 2, 3, 3), False, 0.3, 1e-3, False, True, 4),
        ((5, 4), True, None, 1e-5, True, True, 3),
        ((1, 2, 3, 3), True, None, 1e-5, True, True, 0),
        ((6, 2), True, 0.1, 1e-5, True, False, 0),
        ((6, 2), False, 0.1, 1e-5, True, False, 0),
        ((2, 4, 2, 3), False, 0.1, 0.5, False, False, 0),
        ((2, 5), True, 1.0, 1e-5, True, True, 1),
    ]
    for shape, training, momentum, eps, affine, track, seen in configs:
        c = shape[1]
        name = "batch_norm%dd_%s_%s%s%s%s" % (
            2 if len(shape) == 4 else 1, "x".join(map(str, shape)),
            "train" if training else "eval",
            "" if momentum == 0.1 else "_momentum%s" % momentum,
            "" if affine else "_noaffine", "" if track else "_nostats")
        inputs = [randn(*shape, scale=2.0, shift=0.5)]
        if affine:
            inputs += [randn(c, scale=0.5, shift=1.0), randn(c)]
        buffers = ()
        if track:
            first = len(inputs)
            inputs += [randn(c, scale=0.5), uniform(c, low=0.5, high=2.0), fixed(float(seen))]
            buffers = (first, first + 1, first + 2)
        attrs = {"training": int(training), "momentum": "None" if momentum is None else momentum,
                 "eps": eps, "affine": int(affine), "track_running_stats": int(track),
                 "buffers": ",".join(map(str, buffers))}
        cases.append(Case(name, "batch_norm", inputs,
                          batch_norm_fn(c, training, momentum, eps, affine, track), attrs,
                          grad=[0, 1, 2] if affine else [0], buffers=buffers))
    return cases


def all_cases():
    return (linear_cases() + add_cases() + conv2d_cases() + pool_cases() + shape_cases()
            + activation_cases() + loss_cases() + batch_norm_cases())


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: /usr/bin/python3 tests/golden/gen.py DIRECTORY")
    directory = sys.argv[1]
    os.makedirs(directory, exist_ok=True)
    torch.use_deterministic_algorithms(True)
    cases = all_cases()
    names = [c.name for c in cases]
    assert len(set(names)) == len(names), "two cases share a name"
    for entry in os.listdir(directory):
        if entry.endswith(".safetensors"):
            os.remove(os.path.join(directory, entry))
    for case in cases:
        case.write(directory)
    total = sum(os.path.getsize(os.path.join(directory, n + ".safetensors")) for n in names)
    print("gen.py: wrote %d golden files (%d bytes) to %s" % (len(cases), total, directory))


if __name__ == "__main__":
    main()
