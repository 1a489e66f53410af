"""From one class to a cohort: speed-up on local processes and on Dask, and growth.

Simulates cohorts (short sessions: one session of five 10-second blocks per
participant) and times, for each size:

- ``features``: the whole dataset, no cache;
- ``loso``: leave-one-participant-out evaluation of a Random Forest
  (``--trees``, 50 by default to keep the benchmark short);
- ``forget retrain``: refitting a 300-tree forest without one participant;
- ``forget sharded``: the sharded forest forgetting them, with ``q`` set so
  that each tree sees about ``--per-tree`` participants whatever the cohort
  size (the work then follows the size of one shard, not of the cohort).

The largest cohort runs on 1 process, on ``--jobs`` local processes and on a
Dask ``LocalCluster`` with ``--jobs`` workers (speed-ups against 1 process);
the growth factor per doubling of the cohort is measured on 1 process.
Peak memory is the resident set size of this process (and of its worker
processes, once they have exited).

    .venv/bin/python benchmarks/bench_scale.py [--participants 200] [--jobs 2]
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from dask.distributed import LocalCluster

from eeg4students.evaluation import evaluate
from eeg4students.featureset import compute_features
from eeg4students.parallel import backend
from eeg4students.simulate import simulate_to_dataset
from eeg4students.training import build_estimator, fit_estimator
from eeg4students.unlearning.strategies import apply_strategy


def peak_mb() -> tuple[float, float]:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return own, children


def features_peak_mb(root: Path) -> float:
    """Peak RSS (MB) of a fresh process that extracts the features of a dataset."""
    code = (
        "import resource, shutil, sys; from eeg4students.featureset import compute_features; "
        "shutil.rmtree(sys.argv[1] + '/derivatives', ignore_errors=True); "
        "compute_features(sys.argv[1], progress=False); "
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(root)], capture_output=True, text=True, check=True
    )
    return float(out.stdout.strip().splitlines()[-1])


def measure(root: Path, trees: int, per_tree: int) -> dict:
    """Time the four steps with whatever joblib backend is active."""
    times = {}
    shutil.rmtree(root / "derivatives", ignore_errors=True)
    start = time.perf_counter()
    features = compute_features(root, progress=False)
    times["features"] = time.perf_counter() - start
    table, columns = features.table, features.feature_columns
    start = time.perf_counter()
    evaluate(
        table,
        columns,
        ["rf"],
        "loso",
        model_params={"rf": {"n_estimators": trees}},
        progress=False,
    )
    times["loso"] = time.perf_counter() - start
    people = sorted(table["participant"].unique())
    target, rest = people[0], table[table["participant"] != people[0]]
    forget = table[table["participant"] == target]
    q = min(1.0, per_tree / len(people))
    plain = fit_estimator(build_estimator("rf"), table, columns)
    sharded = fit_estimator(
        build_estimator("rf", unlearnable={"kind": "sharded", "q": q}), table, columns
    )
    for strategy, model, spec in (
        ("retrain", plain, None),
        ("sharded", sharded, {"kind": "sharded", "q": q}),
    ):
        outcome = apply_strategy(
            strategy,
            model,
            lambda s=spec: build_estimator("rf", None, s),
            target,
            rest,
            forget,
            columns,
        )
        times[f"forget {strategy}"] = outcome.seconds
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--participants", type=int, default=200)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--trees", type=int, default=50)
    parser.add_argument("--per-tree", type=int, default=5)
    parser.add_argument(
        "--memory-only",
        action="store_true",
        help="only the peak memory of features per cohort size",
    )
    args = parser.parse_args()
    sizes = [args.participants // 4, args.participants // 2, args.participants]
    with tempfile.TemporaryDirectory() as tmp:
        roots = {}
        for n in sizes:
            roots[n] = Path(tmp) / f"cohort{n}"
            with backend(n_jobs=args.jobs):
                simulate_to_dataset(roots[n], n, 1, seed=0, task_seconds=10, progress=False)
        print("peak RSS of the features step, fresh process on 1 core:")
        for n in sizes:
            print(f"  {n:4d} participants: {features_peak_mb(roots[n]):.0f} MB")
        if args.memory_only:
            return
        print("growth on 1 process (seconds, and factor per doubling):")
        single = {n: measure(roots[n], args.trees, args.per_tree) for n in sizes}
        steps = list(single[sizes[0]])
        print(f"{'step':16s}" + "".join(f"{n:>10d}" for n in sizes) + "   per doubling")
        for step in steps:
            values = [single[n][step] for n in sizes]
            growth = np.exp(np.mean(np.diff(np.log(values))))
            print(f"{step:16s}" + "".join(f"{v:10.2f}" for v in values) + f"   {growth:5.2f}x")
        n = sizes[-1]
        with backend(n_jobs=args.jobs):
            local = measure(roots[n], args.trees, args.per_tree)
        cluster = LocalCluster(
            n_workers=args.jobs, threads_per_worker=1, processes=True, dashboard_address=None
        )
        try:
            with backend(scheduler=cluster.scheduler_address):
                dask = measure(roots[n], args.trees, args.per_tree)
        finally:
            cluster.close()
        print(f"\n{n} participants: speed-up over 1 process")
        print(
            f"{'step':16s}{'1 proc s':>10s}{f'{args.jobs} procs':>12s}{f'dask x{args.jobs}':>12s}"
        )
        for step in steps:
            print(
                f"{step:16s}{single[n][step]:10.2f}{single[n][step] / local[step]:11.2f}x"
                f"{single[n][step] / dask[step]:11.2f}x"
            )
        own, children = peak_mb()
        print(f"\npeak RSS: this process {own:.0f} MB, largest worker {children:.0f} MB")


if __name__ == "__main__":
    main()
