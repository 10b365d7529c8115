#!/usr/bin/python3
"""PyTorch golden files for whole sinapsi models (torch.nn.Sequential).

Run with Debian's PyTorch (python3-torch):

    /usr/bin/python3 tests/model_golden/gen.py tests/model_golden

For each model below this writes, after deleting the generated files already
in the directory (so a renamed model leaves no stale file):

    <name>.spec.txt             print(model), the text sinapsi reads as a spec
    <name>.weights.safetensors  model.state_dict() (torch's names and layouts)
    <name>.io.safetensors       x, an input batch, and y, the model's output on
                                it in evaluation mode (dropout off)

plus the sample shape (one example's input shape, "1x28x28") in the io file's
__metadata__ "input_shape". tests/test_model.c builds each model from the spec,
loads the weights, runs x and compares with y at rtol 1e-4, atol 1e-5.

A model with BatchNorm gets affine weights away from torch's initial 1 and 0
and running statistics away from 0 and 1: a few training-mode forwards on
random batches before export (so num_batches_tracked, an I64 in the state_dict,
is not 0 either). Its io file also holds y_train, the output of one
training-mode forward of the whole batch x (batch statistics), and
after.<name> for every buffer, its value after that forward.

Weights and x are float32 drawn under a seed derived from the model's name;
y is computed in float64 from those float32 values and rounded to float32, so
it is the correctly rounded reference and the C test's tolerance measures
sinapsi alone. The safetensors package is not in Debian, so this file has its
own writer (the layout of tests/golden/gen.py).
"""

import copy
import os
import sys
import zlib

import torch
import torch.nn as nn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pyutil"))
from safetensors_writer import write_safetensors  # noqa: E402

SUFFIXES = (".spec.txt", ".weights.safetensors", ".io.safetensors")


def with_classifier(features, sample_shape, n_out):
    """features + Flatten + Linear(n, n_out), n found by running features."""
    probe = nn.Sequential(*features)(torch.zeros((1,) + sample_shape))
    return features + [nn.Flatten(), nn.Linear(probe[0].numel(), n_out)]


def mlp():
    """Every activation of torch.nn that sinapsi has, Identity and Dropout; a
    2-D sample flattened first."""
    return (3, 4), [
        nn.Flatten(), nn.Linear(12, 16), nn.ReLU(), nn.Linear(16, 16),
        nn.LeakyReLU(0.1), nn.Linear(16, 12), nn.Sigmoid(), nn.Identity(),
        nn.Linear(12, 10), nn.Tanh(), nn.Dropout(0.3), nn.Linear(10, 9),
        nn.Softmax(dim=1), nn.Linear(9, 7, bias=False), nn.LogSoftmax(dim=1)]


def lenet5():
    """LeNet-5 on 28x28 images, as models/lenet5.txt."""
    return (1, 28, 28), [
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10)]


def cnn_rect():
    """Rectangular kernels, per-axis stride and padding, both pools, dropout."""
    sample = (3, 13, 11)
    features = [
        nn.Conv2d(3, 4, kernel_size=(3, 2), stride=(2, 1), padding=(1, 0)), nn.Tanh(),
        nn.AvgPool2d(kernel_size=(2, 3), stride=(1, 2), padding=(1, 1)),
        nn.Conv2d(4, 5, kernel_size=(2, 3), stride=(1, 2), padding=(0, 1), bias=False),
        nn.LeakyReLU(), nn.Dropout(0.25),
        nn.MaxPool2d(kernel_size=(3, 2), stride=(2, 1), padding=(1, 0)), nn.Sigmoid()]
    return sample, with_classifier(features, sample, 6)


def cnn_pool_first():
    """Pooling straight on the input, a 1x1 convolution, max pooling with
    padding, a two-layer head."""
    sample = (2, 9, 8)
    features = [
        nn.MaxPool2d(kernel_size=3, stride=1, padding=1), nn.Conv2d(2, 3, 1), nn.ReLU(),
        nn.AvgPool2d(2), nn.Conv2d(3, 4, kernel_size=3, padding=1, stride=2)]
    return sample, with_classifier(features, sample, 5) + [nn.ReLU(), nn.Linear(5, 3)]


def lenet5_bn():
    """LeNet-5 with BatchNorm2d after each convolution and BatchNorm1d in the
    head; one BatchNorm1d with momentum=None (cumulative average)."""
    return (1, 28, 28), [
        nn.Conv2d(1, 6, 5, padding=2), nn.BatchNorm2d(6), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(400, 120), nn.BatchNorm1d(120), nn.ReLU(),
        nn.Linear(120, 84), nn.BatchNorm1d(84, momentum=None), nn.ReLU(), nn.Linear(84, 10)]


MODELS = {"mlp": (mlp, 7), "lenet5": (lenet5, 5), "cnn_rect": (cnn_rect, 6),
          "cnn_pool_first": (cnn_pool_first, 4), "lenet5_bn": (lenet5_bn, 5)}

BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d)


def warm_up_batch_norms(model, sample):
    """Affine weights off 1 and 0, and running statistics from three
    training-mode forwards of random batches (shifted and scaled, so that the
    statistics are far from the initial 0 and 1)."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, BATCH_NORMS) and m.affine:
                m.weight.copy_(1.0 + 0.3 * torch.randn_like(m.weight))
                m.bias.copy_(0.2 * torch.randn_like(m.bias))
        model.train()
        for _ in range(3):
            model(torch.randn((8,) + sample) * 1.5 + 0.3)
    model.eval()


def write_model(directory, name, build, n):
    torch.manual_seed(zlib.crc32(name.encode()))
    sample, modules = build()
    model = nn.Sequential(*modules).eval()
    has_batch_norm = any(isinstance(m, BATCH_NORMS) for m in modules)
    if has_batch_norm:
        warm_up_batch_norms(model, sample)
    x = torch.randn((n,) + sample, dtype=torch.float32)
    with torch.no_grad():
        y = model.double()(x.double()).float()
    model.float()
    io_tensors = [("x", x), ("y", y)]
    if has_batch_norm:
        # One training step's forward, in float64 on a copy (the exported
        # weights stay as they are).
        trained = copy.deepcopy(model).double().train()
        with torch.no_grad():
            y_train = trained(x.double()).float()
        io_tensors.append(("y_train", y_train))
        io_tensors += [("after." + k, v) for k, v in trained.state_dict().items()
                       if k.endswith(("running_mean", "running_var", "num_batches_tracked"))]
    base = os.path.join(directory, name)
    with open(base + ".spec.txt", "w") as f:
        f.write(str(model) + "\n")
    meta = {"generator": "tests/model_golden/gen.py", "torch": torch.__version__}
    write_safetensors(base + ".weights.safetensors", list(model.state_dict().items()), meta)
    io_meta = dict(meta, input_shape="x".join(str(d) for d in sample))
    write_safetensors(base + ".io.safetensors", io_tensors, io_meta)
    return sum(os.path.getsize(base + s) for s in SUFFIXES)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: /usr/bin/python3 tests/model_golden/gen.py DIRECTORY")
    directory = sys.argv[1]
    os.makedirs(directory, exist_ok=True)
    torch.use_deterministic_algorithms(True)
    for entry in os.listdir(directory):
        if entry.endswith(SUFFIXES):
            os.remove(os.path.join(directory, entry))
    total = sum(write_model(directory, name, build, n) for name, (build, n) in MODELS.items())
    print("gen.py: wrote %d models (%d bytes) to %s" % (len(MODELS), total, directory))


if __name__ == "__main__":
    main()
