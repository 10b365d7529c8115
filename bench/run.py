"""The driver of `make bench` (docs/performance.md): sinapsi against PyTorch.

    /usr/bin/python3 bench/run.py [--build build-bench] [--reps 3] [--quick]

For each OpenBLAS environment (as the machine has it, then with
OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset), it runs bench_ops (FMA peak,
GEMM seam vs cblas_sgemm, conv2d and pooling), then, in one process tree and
interleaved (sinapsi, PyTorch, sinapsi, PyTorch ...), every row of the
comparison `reps` times, and prints a table of medians. Each run is a fresh
process (bench/bench_model.c or bench/torch_model.py); both print img/s and
their own peak RSS.

GFLOP/s convention: forward FLOPs per image from sn_model_layer_info (a
multiply-add counts 2; the same count for both sides), times 3 for a training
step (forward, input gradient, weight gradient), times img/s.
"""
import argparse
import os
import re
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OPENBLAS_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")

# (model, mode, threads, steps) -- steps sized for ~1-3 s of PyTorch per run.
ROWS = [
    ("mlp", "train", 2, 300), ("mlp", "infer", 2, 60),
    ("lenet5", "train", 2, 60), ("lenet5", "train", 1, 60),
    ("lenet5", "infer", 2, 20), ("lenet5", "infer", 1, 20),
    ("cnn2", "train", 2, 15), ("cnn2", "infer", 2, 4),
]
# The targets (sinapsi / PyTorch, 2 threads).
TARGETS = {("mlp", "train"): 5.0, ("lenet5", "train"): 3.5, ("cnn2", "train"): 2.0,
           ("mlp", "infer"): 2.0, ("lenet5", "infer"): 2.0, ("cnn2", "infer"): 2.0}


def parse(line):
    return dict(kv.split("=", 1) for kv in line.split())


def run(cmd, env):
    out = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"bench: {' '.join(cmd)} failed:\n{out.stderr}")
    return out.stdout


def row_env(base, threads):
    env = dict(base)
    env["OMP_NUM_THREADS"] = str(threads)
    return env


def run_table(build, base_env, reps, quick, title):
    env_desc = ", ".join(f"{k}={base_env.get(k, '(unset)')}" for k in OPENBLAS_VARS)
    print(f"\n=== {title}: {env_desc} ===\n", flush=True)
    ops = run([os.path.join(build, "bench", "bench_ops"), "--threads", "2"]
              + (["--smoke"] if quick else []), row_env(base_env, 2))
    print(ops, flush=True)
    m = re.search(r"1 thread ([\d.]+) GFLOP/s, 2 threads ([\d.]+)", ops)
    measured = m and not quick and float(m.group(1)) > 1
    peak = {1: float(m.group(1)), 2: float(m.group(2))} if measured else {1: 220.0, 2: 440.0}
    peak_src = "measured by bench_ops" if measured else "given in issue 5, not measured"

    results = {}
    for rep in range(reps):
        for model, mode, threads, steps in ROWS:
            if quick:
                steps = 3
            spec = os.path.join("models", model + ".txt")
            args = ["--spec", spec, "--mode", mode, "--threads", str(threads),
                    "--steps", str(steps)]
            env = row_env(base_env, threads)
            c = parse(run([os.path.join(build, "bench", "bench_model")] + args, env))
            t = parse(run(["/usr/bin/python3", "bench/torch_model.py"] + args, env))
            results.setdefault((model, mode, threads), []).append((c, t))
            print(f"  rep {rep + 1}: {model} {mode} {threads}t: sinapsi {c['img_per_s']}, "
                  f"PyTorch {t['img_per_s']} img/s", file=sys.stderr, flush=True)

    first = results[ROWS[0][:3]][0][0]
    print(f"threads: as in the table (OMP_NUM_THREADS and torch.set_num_threads); "
          f"sinapsi GEMM: {first['gemm']}, OpenBLAS core: {first['blas_core']}; "
          f"PyTorch {results[ROWS[0][:3]][0][1]['torch']}")
    print(f"FP32 FMA peak: {peak[1]:.0f} GFLOP/s on 1 core, {peak[2]:.0f} on 2 ({peak_src})")
    print(f"medians of {reps} interleaved runs; train batch 64, infer batch 256\n")
    hdr = ("| model | mode | threads | sinapsi img/s | PyTorch img/s | ratio | target "
           "| sinapsi RSS MiB | PyTorch RSS MiB | RSS ratio | sinapsi GFLOP/s | PyTorch GFLOP/s "
           "| sinapsi % of peak |")
    print(hdr)
    print("|" + "---|" * (hdr.count("|") - 1))
    for model, mode, threads, _ in ROWS:
        runs = results[(model, mode, threads)]
        c_ips = statistics.median(float(c["img_per_s"]) for c, _ in runs)
        t_ips = statistics.median(float(t["img_per_s"]) for _, t in runs)
        c_rss = statistics.median(int(c["maxrss_kib"]) for c, _ in runs) / 1024
        t_rss = statistics.median(int(t["maxrss_kib"]) for _, t in runs) / 1024
        flops = int(runs[0][0]["flops_per_img"]) * (3 if mode == "train" else 1)
        c_gf, t_gf = c_ips * flops / 1e9, t_ips * flops / 1e9
        target = TARGETS.get((model, mode)) if threads == 2 else None
        print(f"| {model} | {mode} | {threads} | {c_ips:,.0f} | {t_ips:,.0f} "
              f"| {c_ips / t_ips:.2f}x | {f'>= {target:g}x' if target else '-'} "
              f"| {c_rss:.0f} | {t_rss:.0f} | {c_rss / t_rss:.2f} "
              f"| {c_gf:.1f} | {t_gf:.1f} | {100 * c_gf / peak[threads]:.1f}% |", flush=True)
    for model, mode in (("lenet5", "train"), ("lenet5", "infer")):
        one = statistics.median(float(c["img_per_s"]) for c, _ in results[(model, mode, 1)])
        two = statistics.median(float(c["img_per_s"]) for c, _ in results[(model, mode, 2)])
        print(f"\nsinapsi {model} {mode}: 2 threads / 1 thread = {two / one:.2f}x"
              + (" (target >= 1.6x)" if mode == "train" else ""))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--build", default="build-bench")
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--quick", action="store_true", help="3 steps, 1 rep: checks the driver")
    a = p.parse_args()
    reps = 1 if a.quick else a.reps
    with open("/proc/loadavg") as f:
        print(f"load average at start: {' '.join(f.read().split()[:3])}")
    base = dict(os.environ)
    run_table(a.build, base, reps, a.quick, "OpenBLAS environment as-is")
    unset = {k: v for k, v in base.items() if k not in OPENBLAS_VARS}
    run_table(a.build, unset, reps, a.quick, "OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset")
    with open("/proc/loadavg") as f:
        print(f"\nload average at end: {' '.join(f.read().split()[:3])}")


if __name__ == "__main__":
    main()
