#!/usr/bin/python3
"""PyTorch models that `sinapsi forward` and `sinapsi eval` must reproduce.

Run with Debian's PyTorch (python3-torch):

    /usr/bin/python3 tests/interop/gen.py tests/interop

For each case, a torch.nn.Sequential seeded from the case name, it writes

    <name>.spec.txt              exactly what print(model) shows
    <name>.weights.safetensors   model.state_dict(), float32
    <name>.input.safetensors     x, a batch of 5 to 7 examples
    <name>.expected.safetensors  y = model.eval()(x)

and for the cases that are also classifiers to evaluate

    <name>.data.safetensors      x, y (a training split) and x_test, y_test
                                 (the split `sinapsi eval` must use), labels I64
    <name>.data_expected.safetensors
                                 y = model.eval()(x_test)

Outputs are computed in float64 from the float32 weights and inputs and stored
as float32, so each reference is the correctly rounded value and the C test's
tolerance measures sinapsi alone. The labels of x_test agree with the model's
arg-max for about two thirds of the examples and are random for the rest, so
the accuracy is neither 0 nor 1 and a wrong split or a wrong arg-max shows.

The safetensors package is not in Debian, so this file has its own writer (the
reference layout: header padded with spaces to a multiple of 8). The files are
committed; the tests need no Python.
"""

import copy
import glob
import os
import sys
import zlib

import torch
from torch import nn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pyutil"))
from safetensors_writer import write_safetensors  # noqa: E402

def features_after(layers, sample_shape):
    """in_features of the Linear that follows `layers` on one example."""
    with torch.no_grad():
        return nn.Sequential(*layers)(torch.zeros(1, *sample_shape)).numel()


def mlp_relu_tanh_softmax():
    return (20,), [nn.Linear(20, 32), nn.ReLU(), nn.Linear(32, 24), nn.Tanh(),
                   nn.Linear(24, 16), nn.LeakyReLU(), nn.Linear(16, 5), nn.Softmax(dim=1)]


def mlp_sigmoid_logsoftmax():
    return (10,), [nn.Linear(10, 16), nn.Sigmoid(), nn.Dropout(p=0.3), nn.Linear(16, 16),
                   nn.LeakyReLU(negative_slope=0.2), nn.Identity(), nn.Linear(16, 4),
                   nn.LogSoftmax(dim=1)]


def mlp_binary_sigmoid():
    return (6,), [nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 1), nn.Sigmoid()]


def cnn_rect_kernels():
    sample = (3, 12, 10)
    body = [nn.Conv2d(3, 4, kernel_size=(3, 2), stride=(2, 1), padding=(1, 0)), nn.ReLU(),
            nn.MaxPool2d(kernel_size=(2, 3), stride=(1, 2), padding=(1, 1)),
            nn.Conv2d(4, 6, kernel_size=(2, 3), stride=(1, 2), padding=(0, 1)), nn.Tanh(),
            nn.AvgPool2d(kernel_size=2, stride=(2, 1)), nn.Dropout(p=0.25), nn.Flatten()]
    return sample, body + [nn.Linear(features_after(body, sample), 7)]


def cnn_avgpool_padded():
    sample = (2, 9, 11)
    body = [nn.Conv2d(2, 3, 5, padding=2, bias=False), nn.AvgPool2d(3, stride=2, padding=1),
            nn.LeakyReLU(0.05), nn.Conv2d(3, 5, kernel_size=(1, 3), stride=(2, 2)), nn.Sigmoid(),
            nn.MaxPool2d(2), nn.Flatten()]
    return sample, body + [nn.Linear(features_after(body, sample), 3)]


def lenet5():
    return (1, 28, 28), [nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
                         nn.Linear(84, 10)]


# (builder, batch of the input file, test examples of the eval data or 0 for none)
CASES = [
    (mlp_relu_tanh_softmax, 5, 0),
    (mlp_sigmoid_logsoftmax, 7, 40),
    (mlp_binary_sigmoid, 6, 30),
    (cnn_rect_kernels, 6, 24),
    (cnn_avgpool_padded, 5, 0),
    (lenet5, 6, 0),
]


def reference(model, x):
    """model.eval()(x) in float64, rounded once to float32."""
    twin = copy.deepcopy(model).double().eval()
    with torch.no_grad():
        return twin(x.double()).float()


def labels_for(model, x, n_outputs, generator):
    """Class labels that agree with the model's prediction for about 2/3 of x."""
    y = reference(model, x)
    predicted = (y[:, 0] >= 0.5).long() if n_outputs == 1 else y.argmax(dim=1)
    classes = max(n_outputs, 2)
    random = torch.randint(0, classes, (x.shape[0],), generator=generator)
    keep = torch.rand(x.shape[0], generator=generator) < 2.0 / 3.0
    return torch.where(keep, predicted, random)


def write_case(directory, builder, batch, n_test):
    name = builder.__name__
    torch.manual_seed(zlib.crc32(name.encode()))
    sample, layers = builder()
    model = nn.Sequential(*layers)
    with open(os.path.join(directory, name + ".spec.txt"), "w") as f:
        f.write(str(model) + "\n")
    write_safetensors(os.path.join(directory, name + ".weights.safetensors"),
                      list(model.state_dict().items()))
    x = torch.randn(batch, *sample)
    write_safetensors(os.path.join(directory, name + ".input.safetensors"), [("x", x)])
    write_safetensors(os.path.join(directory, name + ".expected.safetensors"),
                      [("y", reference(model, x))])
    if n_test:
        generator = torch.Generator().manual_seed(zlib.crc32(name.encode()) + 1)
        n_outputs = reference(model, x).shape[1]
        x_train = torch.randn(8, *sample, generator=generator)
        x_test = torch.randn(n_test, *sample, generator=generator)
        write_safetensors(os.path.join(directory, name + ".data.safetensors"),
                          [("x", x_train), ("y", labels_for(model, x_train, n_outputs, generator)),
                           ("x_test", x_test),
                           ("y_test", labels_for(model, x_test, n_outputs, generator))])
        write_safetensors(os.path.join(directory, name + ".data_expected.safetensors"),
                          [("y", reference(model, x_test))])


def main():
    directory = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    for stale in glob.glob(os.path.join(directory, "*.safetensors")) + \
            glob.glob(os.path.join(directory, "*.spec.txt")):
        os.remove(stale)
    for builder, batch, n_test in CASES:
        write_case(directory, builder, batch, n_test)
    print("wrote %d cases to %s (torch %s)" % (len(CASES), directory, torch.__version__))


if __name__ == "__main__":
    main()
