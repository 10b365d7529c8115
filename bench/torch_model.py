"""PyTorch twin of bench/bench_model.c: the same model, data, batch and
timed region, so that `make bench` (bench/run.py) compares like with like.

    /usr/bin/python3 bench/torch_model.py --spec models/lenet5.txt --mode train
        [--steps N] [--batch B] [--threads T] [--data DIR] [--warmup W]
        [--loader lean|dataloader]

The IDX gz files are read with gzip + numpy into one uint8 tensor (60000, 1,
28, 28) (torchvision is not in Debian). Two ways to feed the minibatches:
  lean (default, the fair twin of sn_dataset_batch): each minibatch gathered
      from the uint8 tensor by a shuffled index and normalised with
      .float().div_(255);
  dataloader (what the tutorial loop gets): a torch.utils.data.Dataset whose
      __getitem__ returns one normalised float image (1, 28, 28) and its label,
      as torchvision's ToTensor() would (without the PIL round trip that
      torchvision's FashionMNIST adds, so a real torchvision loop is slower
      still), wrapped in DataLoader(batch_size, shuffle=True for training;
      num_workers=0, the default), which collates the samples per minibatch.
Either way the input copy and normalisation are timed, as sn_dataset_batch is
on the C side. Timed per minibatch, after W warmup ones:
  train: forward (train mode), cross-entropy, zero_grad, backward, SGD step
         (lr 0.01, momentum 0.9);
  infer: forward in eval mode under torch.no_grad().
Prints the same key=value line as bench_model (maxrss_kib from
resource.getrusage of this process: torch itself, the uint8 dataset and the
run), plus loader=.
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


class ImageDataset(torch.utils.data.Dataset):
    """One example at a time, as a tutorial Dataset does: (image, label) with
    the image a float tensor (1, 28, 28) in [0, 1] (ToTensor's conversion)."""

    def __init__(self, images, labels):
        self.images, self.labels = images, labels  # uint8 (N, 1, 28, 28), int64 (N)

    def __len__(self):
        return self.images.shape[0]

    def __getitem__(self, i):
        return self.images[i].float().div(255), int(self.labels[i])


def batches(images, labels, order, batch):
    """The lean feed: endless minibatches gathered by `order`, epoch after epoch."""
    per_epoch = images.shape[0] // batch
    step = 0
    while True:
        idx = order[step * batch:(step + 1) * batch]
        yield images[idx].float().div_(255), labels[idx]
        step = (step + 1) % per_epoch


def loader_batches(loader):
    """The DataLoader feed: endless, a new (reshuffled) epoch when one ends."""
    while True:
        yield from loader


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
    p.add_argument("--loader", choices=["lean", "dataloader"], default="lean")
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
    if a.loader == "lean":
        order = torch.randperm(count) if train else torch.arange(count)
        feed = batches(images, labels, order, batch)
    else:
        feed = loader_batches(torch.utils.data.DataLoader(
            ImageDataset(images, labels), batch_size=batch, shuffle=train, drop_last=True))

    def run_batch():
        x, y = next(feed)
        if train:
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
        run_batch()
    seconds = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    n = a.steps * batch
    print(f"img_per_s={n / seconds:.1f} images={n} seconds={seconds:.4f} maxrss_kib={rss} "
          f"threads={torch.get_num_threads()} torch={torch.__version__} loader={a.loader}")


if __name__ == "__main__":
    main()
