"""PyTorch twin of bench/bench_model.c: the same model, data, batch and
timed region, so that `make bench` (bench/run.py) compares like with like.

    /usr/bin/python3 bench/torch_model.py --spec models/lenet5.txt --mode train
        [--steps N] [--batch B] [--threads T] [--data DIR] [--warmup W]

Data as a typical user loop without torchvision (not in Debian): the IDX gz
files read with gzip + numpy into one uint8 tensor (60000, 1, 28, 28), and each
minibatch gathered and normalised with .float().div_(255), which is timed, as
sn_dataset_batch is on the C side. Timed per minibatch, after W warmup ones:
  train: forward (train mode), cross-entropy, zero_grad, backward, SGD step
         (lr 0.01, momentum 0.9);
  infer: forward in eval mode under torch.no_grad().
Prints the same key=value line as bench_model (maxrss_kib from
resource.getrusage of this process: torch itself, the uint8 dataset and the
run).
"""
import argparse
import gzip
import os
import resource
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def load_idx(path, offset):
    with gzip.open(path, "rb") as f:
        return np.frombuffer(f.read(), dtype=np.uint8, offset=offset)


def model_from_spec(path):
    """The spec is one torch.nn constructor per line (docs/spec.md)."""
    names = {k: getattr(nn, k) for k in dir(nn) if k[:1].isupper()}
    names["True"], names["False"] = True, False
    layers = []
    with open(path) as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if line:
                layers.append(eval(line, {"__builtins__": {}}, names))
    return nn.Sequential(*layers)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--spec", default="models/lenet5.txt")
    p.add_argument("--mode", choices=["train", "infer"], default="train")
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--batch", type=int, default=0)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    a = p.parse_args()
    train = a.mode == "train"
    batch = a.batch or (64 if train else 256)
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    torch.manual_seed(1)

    images = torch.from_numpy(
        load_idx(os.path.join(a.data, "train-images-idx3-ubyte.gz"), 16).copy()
    ).view(-1, 1, 28, 28)  # uint8, (60000, 1, 28, 28)
    labels = torch.from_numpy(
        load_idx(os.path.join(a.data, "train-labels-idx1-ubyte.gz"), 8).astype(np.int64))
    count = images.shape[0]
    model = model_from_spec(a.spec)
    model.train(train)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9) if train else None
    order = torch.randperm(count) if train else torch.arange(count)
    per_epoch = count // batch

    def run_batch(step):
        idx = order[step * batch:(step + 1) * batch]
        x = images[idx].float().div_(255)
        if train:
            y = labels[idx]
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        else:
            with torch.no_grad():
                model(x)

    t0 = 0.0
    for i in range(a.warmup + a.steps):
        if i == a.warmup:
            t0 = time.perf_counter()
        run_batch(i % per_epoch)
    seconds = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    n = a.steps * batch
    print(f"img_per_s={n / seconds:.1f} images={n} seconds={seconds:.4f} maxrss_kib={rss} "
          f"threads={torch.get_num_threads()} torch={torch.__version__}")


if __name__ == "__main__":
    main()
