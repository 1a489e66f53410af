"""Speed and memory of the features step (filter + windows + rejection + band powers).

For a simulated 4-channel 256 Hz recording of 1 hour and of 10 hours (task
blocks of the EEG4Students protocol, repeated), stored as a BIDS dataset,
this prints:

- throughput of ``compute_features`` (no cache) as a multiple of real time
  on one core;
- the ratio of its time to a floor measured in the same process: reading the
  same block spans from disk and one vectorised numpy FFT over all windows;
- for scale, the floor with the zero-phase filters added (``floor+filter``,
  as a multiple of the floor): the part no band-pass-filtering pipeline avoids;
- peak memory (resident set size) of the process that ran both.

Each size runs in its own child process with one thread, so memory figures
are not polluted by the simulation. Run it with::

    .venv/bin/python benchmarks/bench_features.py [--hours 1 10] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# One core: set before numpy and SciPy are imported in the child.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")


def make_dataset(root: Path, hours: float) -> None:
    """Simulate one long recording made of repeated protocol blocks."""
    from eeg4students.protocol import load_protocol, parse_protocol
    from eeg4students.simulate import simulate_recording
    from eeg4students.store import Dataset

    base = load_protocol()
    per_block = base.task_seconds + base.rest_seconds
    repeats = max(1, round(hours * 3600 / per_block / len(base.tasks)))
    spec = {
        "name": "long",
        "task_seconds": base.task_seconds,
        "rest_seconds": base.rest_seconds,
        "lead_in_seconds": base.lead_in_seconds,
        "tasks": [
            {"name": t.name, "code": t.code, "instruction": t.instruction} for t in base.tasks
        ],
        "sessions": {"1": list(base.task_names) * repeats},
    }
    raw = simulate_recording(0, 1, seed=0, protocol=parse_protocol(spec, "bench"))
    Dataset.create(root).add_recording(raw, "bench", "1", "long")


def measure(root: Path, repeat: int) -> dict:
    """Time the floor and the pipeline in this process; report peak RSS."""
    import resource
    import shutil

    import numpy as np

    from eeg4students.featureset import compute_features
    from eeg4students.preprocess import PAD_SECONDS, PreprocessParams, design_filters
    from eeg4students.store import Dataset

    dataset = Dataset(root)
    ref = dataset.references()[0]
    params = PreprocessParams()

    def floor(filtered: bool = False) -> int:
        raw = dataset.load(ref.participant, ref.session, ref.task, ref.run, preload=False)
        filters = design_filters(raw.info["sfreq"], params, line_freq=50.0)
        sfreq = raw.info["sfreq"]
        win, hop, pad = (
            round(params.window * sfreq),
            round(params.hop * sfreq),
            int(PAD_SECONDS * sfreq),
        )
        n = 0
        for onset, duration in zip(raw.annotations.onset, raw.annotations.duration, strict=True):
            first, last = round(onset * sfreq), round((onset + duration) * sfreq)
            start, stop = max(first - pad, 0), min(last + pad, raw.n_times)
            data = raw.get_data(start=start, stop=stop)
            if filtered:
                data = filters.apply(data)
            begin = first + int(np.ceil(params.transition_share * (last - first)))
            starts = np.arange(begin, last - win + 1, hop) - start
            windows = np.lib.stride_tricks.sliding_window_view(data, win, axis=1)[:, starts]
            n += np.fft.rfft(windows, axis=-1).shape[1]
        return n

    def pipeline() -> int:
        shutil.rmtree(root / "derivatives", ignore_errors=True)
        return len(compute_features(dataset, params, progress=False).table)

    floor()  # warm up readers and FFT plans
    floor_times, filter_times, pipe_times = [], [], []
    for _ in range(repeat):
        t0 = time.perf_counter()
        floor()
        floor_times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        floor(filtered=True)
        filter_times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        n_windows = pipeline()
        pipe_times.append(time.perf_counter() - t0)
    raw = dataset.load(ref.participant, ref.session, ref.task, ref.run, preload=False)
    seconds = raw.n_times / raw.info["sfreq"]
    return {
        "recording_s": seconds,
        "windows": n_windows,
        "floor_s": min(floor_times),
        "floor_filtered_s": min(filter_times),
        "pipeline_s": min(pipe_times),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, nargs="+", default=[1.0, 10.0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        action, root, value = args.child
        if action == "make":
            make_dataset(Path(root), float(value))
        else:
            print(json.dumps({k: float(v) for k, v in measure(Path(root), int(value)).items()}))
        return
    print(
        f"{'hours':>5} {'windows':>8} {'pipeline s':>10} {'x real time':>11} "
        f"{'floor s':>8} {'ratio':>6} {'floor+filter':>12} {'peak RSS MB':>11}"
    )
    for hours in args.hours:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp) / "ds"
            run = [sys.executable, __file__, "--child"]
            subprocess.run([*run, "make", str(root), str(hours)], check=True)
            out = subprocess.run(
                [*run, "measure", str(root), str(args.repeat)],
                check=True,
                capture_output=True,
                text=True,
            )
            r = json.loads(out.stdout.strip().splitlines()[-1])
            print(
                f"{r['recording_s'] / 3600:5.1f} {r['windows']:8.0f} {r['pipeline_s']:10.2f} "
                f"{r['recording_s'] / r['pipeline_s']:11.0f} {r['floor_s']:8.2f} "
                f"{r['pipeline_s'] / r['floor_s']:6.1f} "
                f"{r['floor_filtered_s'] / r['floor_s']:11.1f}x {r['peak_rss_mb']:11.0f}"
            )


if __name__ == "__main__":
    main()
