"""Delay from a sample entering an LSL outlet to its label leaving ``live --lsl-out``.

A simulated Muse session (4 channels, 256 Hz) is played in real time on an
LSL outlet by mne-lsl's ``PlayerLSL`` in chunks of 8 samples (31 ms); the
player stamps a chunk's last sample with the time it is due, one chunk after
the chunk is pushed, so a sample entered the outlet at its stamp minus one
chunk. ``eeg4students live --board lsl:NAME --lsl-out OUT`` runs
as a user would start it, with a TMV model trained on simulated Muse data,
and an inlet in this process receives every published window. For each
label:

- **sample-to-label**: when the label arrived here (the inlet is polled
  every millisecond), minus when the newest sample the classifier had
  entered the outlet; this is the toolkit's delay (pull, filters, features,
  model, publish) plus LSL's;
- **window-end-to-label**: the same plus the lag, i.e. how long after a
  window's end a program reacting to it hears about it.

The baseline, run in the same process against the same player, is a relay
that pulls the stream with the same reader (``LSLStream``) on the same
one-second cadence and publishes each newest stamp through the same
``LabelOutlet``, without filters, features or model: LSL's transport plus
the toolkit's reader. The ratio (live / relay, medians) is what classifying
costs. Run it with::

    .venv/bin/python benchmarks/bench_lsl_delay.py [--seconds 45] [--lags 0.25,2]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

from eeg4students.lsl import LabelOutlet, LSLStream, _lsl, find_stream, local_clock
from eeg4students.simulate import MUSE, simulate_recording, simulate_to_dataset
from eeg4students.training import train_model


def relay(board: str, out: str, hop: float, lag: float, seconds: float) -> None:
    """The baseline: pull the stream and publish the newest stamp each hop."""
    source = LSLStream(board, None)
    outlet = LabelOutlet(out)
    spec = source.start()
    source.recent_seconds = 1.0
    start = next_at = time.monotonic()
    try:
        while time.monotonic() - start < seconds:
            time.sleep(max(0.0, next_at - time.monotonic()))
            next_at += hop
            _, end = source.newest(round(spec.sfreq))
            if end is not None:
                outlet.send({"label": "relay", "rejected": None}, end - lag)
    finally:
        source.stop()
        outlet.close()


CHUNK = 8


def receive(command: list[str], out: str, lag: float, seconds: float, sfreq: float) -> np.ndarray:
    """Start a publisher and collect its messages: seconds from newest sample push to arrival."""
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    try:
        inlet = _lsl().StreamInlet(find_stream(out, timeout=120, markers=True))
        inlet.open_stream(timeout=60)
        delays = []
        deadline = time.monotonic() + seconds + 60
        while process.poll() is None and time.monotonic() < deadline:
            values, stamps = inlet.pull_chunk(timeout=0.0)  # a timeout would wait it out
            arrived = local_clock()
            for value, stamp in zip(values, np.array(stamps, copy=True), strict=True):
                json.loads(value[0])
                # The message's stamp is window_end = newest stamp + 1/sfreq - lag.
                pushed = float(stamp) + lag - 1 / sfreq - CHUNK / sfreq
                delays.append(arrived - pushed)
            time.sleep(0.001)
        inlet.close_stream()
    finally:
        if process.poll() is None:
            process.terminate()
        _, err = process.communicate(timeout=60)
    if not delays:
        raise SystemExit(f"no labels were received from {' '.join(command[1:4])}:\n{err}")
    return np.array(delays)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=45.0, help="per run")
    parser.add_argument("--lags", default="0.25,2", help="live --lag values, comma-separated")
    parser.add_argument("--relay", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.relay:
        board, out, hop, lag, seconds = args.relay
        relay(board, out, float(hop), float(lag), float(seconds))
        return
    from mne_lsl.player import PlayerLSL

    _lsl()  # liblsl told to keep its INFO lines to itself before the player starts
    lags = [float(x) for x in args.lags.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "ds"
        simulate_to_dataset(root, 3, 1, seed=0, montage=MUSE, task_seconds=20, progress=False)
        saved = train_model(root, "tmv", "delay", progress=False)
        raw = simulate_recording(7, 1, seed=1, montage=MUSE, task_seconds=60)
        raw.set_annotations(None)
        name = f"bench-eeg-{uuid.uuid4().hex[:8]}"
        player = PlayerLSL(raw, chunk_size=CHUNK, name=name, source_id=name)
        player.start()
        try:
            hop = saved.preprocess.hop
            rows = []
            for lag in lags:
                out = f"bench-relay-{uuid.uuid4().hex[:8]}"
                command = [sys.executable, __file__, "--relay", f"lsl:{name}", out]
                base = receive(
                    [*command, str(hop), str(lag), str(args.seconds)],
                    out,
                    lag,
                    args.seconds,
                    raw.info["sfreq"],
                )
                out = f"bench-labels-{uuid.uuid4().hex[:8]}"
                live = [
                    sys.executable, "-m", "eeg4students", "live", "--board", f"lsl:{name}",
                    "--model", str(saved.path), "--lag", str(lag),
                    "--seconds", str(args.seconds), "--lsl-out", out,
                ]  # fmt: skip
                delays = receive(live, out, lag, args.seconds, raw.info["sfreq"])
                rows.append((lag, base, delays))
        finally:
            player.stop()
    print(
        f"Simulated Muse (4 ch, 256 Hz) played by PlayerLSL in {CHUNK}-sample chunks; TMV model; "
        f"one label per {hop:g} s; {args.seconds:g} s per run"
    )
    print(
        "lag_s  labels  relay_median_ms  live_median_ms  live_p99_ms  ratio_median  "
        "window_end_to_label_median_s  p99_s"
    )
    for lag, base, delays in rows:
        median, p99 = np.median(delays), np.percentile(delays, 99)
        print(
            f"{lag:5.2f}  {delays.size:6d}  {np.median(base) * 1e3:15.1f}  {median * 1e3:14.1f}  "
            f"{p99 * 1e3:11.1f}  {median / np.median(base):12.1f}  "
            f"{median + lag:28.3f}  {p99 + lag:5.3f}"
        )


if __name__ == "__main__":
    main()
