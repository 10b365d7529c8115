#!/usr/bin/python3
"""Writes PyTorch golden files for the optimisers: for each configuration, the
initial parameters, a sequence of gradients and learning rates, and the
parameters torch.optim produces after every step.

Run with Debian's PyTorch:  /usr/bin/python3 tests/optim_golden/gen.py tests/optim_golden
Each file holds theta0 (n), grads (steps, n), lrs (steps), expected (steps, n),
and __metadata__ with the optimiser and its hyperparameters (as decimal text,
parsed by the C test with strtod so both sides start from the same doubles).
"""
import os
import zlib
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pyutil"))
from safetensors_writer import write_safetensors  # noqa: E402

N, STEPS = 37, 6

CONFIGS = [
    ("sgd_plain", "sgd", dict(lr=0.1)),
    ("sgd_momentum", "sgd", dict(lr=0.1, momentum=0.9)),
    ("sgd_dampening", "sgd", dict(lr=0.1, momentum=0.9, dampening=0.3)),
    ("sgd_nesterov", "sgd", dict(lr=0.1, momentum=0.9, nesterov=True)),
    ("sgd_weight_decay", "sgd", dict(lr=0.1, momentum=0.5, weight_decay=0.01)),
    ("sgd_momentum_schedule", "sgd", dict(lr=0.1, momentum=0.9), [0.1, 0.05, 0.05, 0.02, 0.01, 0.3]),
    ("adam", "adam", dict(lr=0.01)),
    ("adam_weight_decay", "adam", dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.05)),
    ("adamw", "adamw", dict(lr=0.01, weight_decay=0.05)),
    ("adamw_schedule", "adamw", dict(lr=0.01), [0.01, 0.005, 0.02, 0.001, 0.01, 0.01]),
]


def run(kind, kwargs, lrs):
    g = torch.Generator().manual_seed(zlib.crc32((kind + str(sorted(kwargs.items()))).encode()))
    theta0 = torch.randn(N, generator=g)
    grads = torch.randn(STEPS, N, generator=g)
    p = torch.nn.Parameter(theta0.clone())
    cls = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[kind]
    opt = cls([p], **kwargs)
    expected = []
    for t in range(STEPS):
        for group in opt.param_groups:
            group["lr"] = lrs[t]
        p.grad = grads[t].clone()
        opt.step()
        expected.append(p.detach().clone())
    return theta0, grads, torch.tensor(lrs, dtype=torch.float32), torch.stack(expected)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    for config in CONFIGS:
        name, kind, kwargs = config[:3]
        lrs = config[3] if len(config) > 3 else [kwargs["lr"]] * STEPS
        theta0, grads, lr_tensor, expected = run(kind, kwargs, lrs)
        defaults = {"sgd": dict(momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0),
                    "adam": dict(betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0),
                    "adamw": dict(betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)}[kind]
        hp = dict(defaults, **kwargs)
        meta = {"optim": kind, "lrs": ",".join(repr(v) for v in lrs)}
        for k, v in hp.items():
            if k == "betas":
                meta["beta1"], meta["beta2"] = repr(v[0]), repr(v[1])
            elif k != "lr":
                meta[k] = repr(v) if not isinstance(v, bool) else ("1" if v else "0")
        write_safetensors(os.path.join(out, name + ".safetensors"),
                          [("theta0", theta0), ("grads", grads), ("lrs", lr_tensor),
                           ("expected", expected)], meta)
    print("optim_golden: wrote %d files to %s" % (len(CONFIGS), out))


if __name__ == "__main__":
    main()
