#!/usr/bin/env python3
"""Run a cimpool sweep on Ray: one task per point, each calling the same CLI
(`cimpool sweep run POINTS --point N --out DIR`), so a local run, this and a
Slurm array produce the same results folder. Resuming is free: a point
whose metrics.json exists is skipped by the CLI, and a failed task is
retried (`--retries`). `--tune` runs a Ray Tune search over the same points
instead of all of them.

  make sweep-ray SPACE=examples/sweep/digits.toml          # single node
  RAY_ADDRESS=ray://head:10001 python tools/sweep_ray.py ...  # a cluster
"""

import argparse
import json
import os
import subprocess
import sys


def run_point(cimpool, points, index, out):
    """Runs one point through the CLI; returns its metrics."""
    done = subprocess.run(
        [cimpool, "sweep", "run", points, "--point", str(index), "--out", out],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise RuntimeError(f"point {index}: {done.stderr.strip()}")
    with open(points) as f:
        point = json.loads(f.readlines()[index])
    with open(os.path.join(out, point["hash"], "metrics.json")) as f:
        return json.load(f)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("points", help="points written by `cimpool sweep expand`")
    ap.add_argument("--out", required=True, help="results folder")
    ap.add_argument("--cimpool", default="target/release/cimpool", help="the cimpool binary")
    ap.add_argument("--cpus", type=int, default=None, help="CPUs of a local Ray (default: all)")
    ap.add_argument("--retries", type=int, default=2, help="retries of a failed point")
    ap.add_argument(
        "--tune",
        metavar="FIGURE",
        help="instead of every point, a Ray Tune search minimizing FIGURE",
    )
    ap.add_argument("--floor", nargs=2, metavar=("FIGURE", "MIN"),
                    help="with --tune: points with FIGURE below MIN do not count (e.g. accuracy 0.9)")
    ap.add_argument("--samples", type=int, default=8, help="with --tune: points tried")
    args = ap.parse_args()

    import ray

    cimpool = os.path.abspath(args.cimpool)
    points = os.path.abspath(args.points)
    out = os.path.abspath(args.out)
    if not os.path.exists(cimpool):
        sys.exit(f"error: {cimpool} does not exist: build it with `cargo build --release`")
    with open(points) as f:
        n = sum(1 for line in f if line.strip())
    if n == 0:
        sys.exit(f"error: {points} has no points")

    ray.init(num_cpus=args.cpus, include_dashboard=False, log_to_driver=False)

    if args.tune:
        from ray import tune

        def trial(config):
            m = run_point(cimpool, points, config["point"], out)
            value = m["figures"][args.tune]
            if args.floor and m["figures"][args.floor[0]] < float(args.floor[1]):
                value = 1e30  # finite: Tune warns on inf
            return {args.tune: value, "point": config["point"]}

        tuner = tune.Tuner(
            trial,
            param_space={"point": tune.randint(0, n)},
            tune_config=tune.TuneConfig(metric=args.tune, mode="min", num_samples=args.samples),
            run_config=ray.train.RunConfig(storage_path=os.path.join(out, "tune"), verbose=0),
        )
        best = tuner.fit().get_best_result()
        print(f"best point {best.metrics['point']}: {args.tune} = {best.metrics[args.tune]}")
        return

    task = ray.remote(max_retries=args.retries, retry_exceptions=True)(run_point)
    pending = [task.remote(cimpool, points, i, out) for i in range(n)]
    done = 0
    while pending:
        ready, pending = ray.wait(pending)
        ray.get(ready)
        done += len(ready)
        print(f"\r{done}/{n} points", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    print(f"sweep_ray: {n} points in {out} on Ray {ray.__version__} ({int(ray.cluster_resources()['CPU'])} CPUs)")


if __name__ == "__main__":
    main()
