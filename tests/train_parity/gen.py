#!/usr/bin/python3
"""Writes the step-by-step training parity cases for `sinapsi train`.

Run with Debian's PyTorch:  /usr/bin/python3 tests/train_parity/gen.py tests/train_parity

Each case trains a small torch nn.Sequential from fixed initial weights on a
small dataset, without shuffling: the minibatches are the consecutive slices
x[0:B], x[B:2B], ... (the last one smaller when B does not divide n), which is
what `sinapsi train --no-shuffle` does on a safetensors dataset. Per case:

  <case>.spec.txt             print(model), which sinapsi reads as a spec
  <case>.init.safetensors     the initial state_dict (torch names)
  <case>.data.safetensors     x, y (training) and x_test, y_test
  <case>.expected.safetensors losses (steps): every step's mean loss, and the
                              state_dict after the last step
  <case>.args                 the `sinapsi train` arguments, one line, paths
                              relative to this directory

tests/test_train_parity.c runs each .args (plus --log, --log-steps, --out,
--threads 1) and compares the losses (rtol 1e-4) and the final weights
(rtol 1e-3, atol 1e-4). Deterministic: every case seeds its own generator.
"""
import os
import sys
import zlib

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pyutil"))
from safetensors_writer import write_safetensors  # noqa: E402

N_TRAIN, N_TEST = 96, 32


def mlp(act, n_out):
    return nn.Sequential(nn.Linear(20, 16), act, nn.Linear(16, n_out))


def cnn():
    # 1x8x8 -> Conv 4x8x8 -> pool 4x4x4 -> 64 -> 3 classes
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(64, 3))


# name, model, data kind, loss, optimiser, its kwargs, extra options.
# data kinds: ("classes", sample shape, k) class labels from a random linear
# teacher; ("regression", k) float targets; ("binary",) labels 0/1.
CASES = [
    dict(name="mlp_relu_sgd_ce", model=lambda: mlp(nn.ReLU(), 5), data=("classes", (20,), 5),
         loss="cross_entropy", optim="sgd", kw=dict(lr=0.1), batch=16, epochs=3),
    dict(name="mlp_tanh_momentum_mse", model=lambda: mlp(nn.Tanh(), 5), data=("classes", (20,), 5),
         loss="mse", optim="sgd", kw=dict(lr=0.1, momentum=0.9, dampening=0.1), batch=16, epochs=3),
    # The textbook velocity form equals torch's momentum for a constant rate.
    dict(name="mlp_relu_velocity_ce", model=lambda: mlp(nn.ReLU(), 5), data=("classes", (20,), 5),
         loss="cross_entropy", optim="sgd", kw=dict(lr=0.05, momentum=0.9), batch=16, epochs=2,
         extra=["--velocity"]),
    # 96 = 4 * 20 + 16: a partial last batch every epoch; a step schedule.
    dict(name="mlp_relu_nesterov_wd_ce", model=lambda: mlp(nn.ReLU(), 5),
         data=("classes", (20,), 5), loss="cross_entropy", optim="sgd",
         kw=dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01), batch=20, epochs=3,
         step_lr=(2, 0.5)),
    dict(name="mlp_tanh_sgd_wd_mse_regression", model=lambda: mlp(nn.Tanh(), 3),
         data=("regression", 3), loss="mse", optim="sgd", kw=dict(lr=0.05, weight_decay=0.05),
         batch=16, epochs=3),
    dict(name="cnn_adam_ce", model=cnn, data=("classes", (1, 8, 8), 3), loss="cross_entropy",
         optim="adam", kw=dict(lr=0.01), batch=16, epochs=3),
    dict(name="cnn_adam_wd_clip_ce", model=cnn, data=("classes", (1, 8, 8), 3),
         loss="cross_entropy", optim="adam",
         kw=dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.01), batch=20, epochs=2,
         clip=0.5),
    dict(name="mlp_tanh_adamw_bce_with_logits", model=lambda: mlp(nn.Tanh(), 1),
         data=("binary",), loss="bce_with_logits", optim="adamw",
         kw=dict(lr=0.01, weight_decay=0.1), batch=16, epochs=3),
]


def make_data(kind, g):
    if kind[0] == "regression":
        n_out = kind[1]
        x = torch.randn(N_TRAIN + N_TEST, 20, generator=g)
        w = torch.randn(20, n_out, generator=g) / 4
        y = torch.tanh(x @ w) + 0.1 * torch.randn(N_TRAIN + N_TEST, n_out, generator=g)
    else:
        shape = kind[1] if kind[0] == "classes" else (20,)
        k = kind[2] if kind[0] == "classes" else 2
        x = torch.randn(N_TRAIN + N_TEST, *shape, generator=g)
        w = torch.randn(x[0].numel(), k, generator=g)
        y = torch.argmax(x.reshape(len(x), -1) @ w, dim=1)
    return x[:N_TRAIN], y[:N_TRAIN], x[N_TRAIN:], y[N_TRAIN:]


def loss_of(name, out, y):
    if name == "cross_entropy":
        return F.cross_entropy(out, y)
    if name == "bce_with_logits":
        return F.binary_cross_entropy_with_logits(out, y.to(torch.float32).reshape(out.shape))
    # mse: float targets as they are, class labels one-hot over the outputs,
    # as sn_task_targets expands them.
    target = y if y.is_floating_point() else F.one_hot(y, out.shape[1]).to(torch.float32)
    return F.mse_loss(out, target)


def train(case, model, x, y):
    cls = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}
    opt = cls[case["optim"]](model.parameters(), **case["kw"])
    sched = (torch.optim.lr_scheduler.StepLR(opt, step_size=case["step_lr"][0],
                                             gamma=case["step_lr"][1])
             if "step_lr" in case else None)
    losses = []
    batch = case["batch"]
    for _ in range(case["epochs"]):
        for first in range(0, len(x), batch):
            opt.zero_grad()
            loss = loss_of(case["loss"], model(x[first:first + batch]), y[first:first + batch])
            loss.backward()
            if "clip" in case:
                nn.utils.clip_grad_norm_(model.parameters(), case["clip"])
            opt.step()
            losses.append(loss.item())
        if sched:
            sched.step()
    return torch.tensor(losses, dtype=torch.float32)


def args_of(case):
    name, kw = case["name"], case["kw"]
    args = ["--model", name + ".spec.txt", "--weights", name + ".init.safetensors",
            "--data", name + ".data.safetensors", "--no-shuffle",
            "--epochs", str(case["epochs"]), "--batch", str(case["batch"]),
            "--loss", case["loss"], "--optim", case["optim"], "--lr", repr(kw["lr"])]
    for key, option in (("momentum", "--momentum"), ("dampening", "--dampening"),
                        ("eps", "--eps")):
        if key in kw:
            args += [option, repr(kw[key])]
    # AdamW's default decay (0.01) differs from torch's SGD/Adam (0): always explicit.
    args += ["--weight-decay", repr(kw.get("weight_decay", 0.0))]
    if kw.get("nesterov"):
        args.append("--nesterov")
    if "betas" in kw:
        args += ["--betas", "%r,%r" % kw["betas"]]
    if "step_lr" in case:
        args += ["--schedule", "step", "--step-size", str(case["step_lr"][0]),
                 "--gamma", repr(case["step_lr"][1])]
    if "clip" in case:
        args += ["--clip", repr(case["clip"])]
    return args + case.get("extra", [])


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    for case in CASES:
        name = case["name"]
        seed = zlib.crc32(name.encode())
        torch.manual_seed(seed)
        model = case["model"]()
        g = torch.Generator().manual_seed(seed)
        x, y, x_test, y_test = make_data(case["data"], g)
        base = os.path.join(out, name)
        with open(base + ".spec.txt", "w") as f:
            f.write(str(model) + "\n")
        write_safetensors(base + ".init.safetensors", list(model.state_dict().items()))
        write_safetensors(base + ".data.safetensors",
                          [("x", x), ("y", y), ("x_test", x_test), ("y_test", y_test)])
        losses = train(case, model, x, y)
        write_safetensors(base + ".expected.safetensors",
                          [("losses", losses)] + list(model.state_dict().items()))
        with open(base + ".args", "w") as f:
            f.write(" ".join(args_of(case)) + "\n")
    print("train_parity: wrote %d cases to %s" % (len(CASES), out))


if __name__ == "__main__":
    main()
