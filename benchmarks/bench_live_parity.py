"""Live against offline: the same windows rejected, the same band powers?

Streams ``--seconds`` (default 40) from BrainFlow's synthetic board in real
time, then processes the stream twice with a model trained on simulated data
with the board's channels:

- **offline**: the whole stream as one task block, as ``features`` and
  ``evaluate`` see a recording (2 s windows every 1 s);
- **live**: for each second, the buffer the live loop would hold at that
  moment (:func:`eeg4students.live.samples_needed` samples) through
  :func:`eeg4students.live.classify_window`, at several lags (seconds of
  signal after the window classified).

For each lag it prints how many windows both saw, how many each rejected,
how often they agree, and how far the live band powers are from the offline
ones (log10 power; median, 95th percentile, max), next to the spread of the
offline band powers across windows. Run it with::

    .venv/bin/python benchmarks/bench_live_parity.py [--seconds 40]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import mne
import numpy as np
from brainflow.board_shim import BoardShim, BrainFlowInputParams

from eeg4students.boards import get_board
from eeg4students.events import task_description
from eeg4students.features import blocks_to_frames
from eeg4students.live import LIVE_HISTORY_SECONDS, classify_window, samples_needed
from eeg4students.preprocess import iter_blocks
from eeg4students.simulate import Montage, simulate_to_dataset
from eeg4students.training import train_model

LAGS = (0.0, 0.25, 0.5, 1.0, 2.0, 3.0)


def stream(seconds: float) -> tuple[np.ndarray, object]:
    spec = get_board("synthetic")
    BoardShim.disable_board_logger()
    shim = BoardShim(spec.board_id, BrainFlowInputParams())
    shim.prepare_session()
    try:
        shim.start_stream()
        time.sleep(seconds)
        data = shim.get_board_data()
    finally:
        shim.release_session()
    return data, spec


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=40.0)
    args = parser.parse_args()
    data, spec = stream(args.seconds)
    sfreq = spec.sfreq
    channels = tuple(spec.eeg_names)  # all 16, as a model trained on this board's recordings
    rows = [spec.eeg_rows[list(spec.eeg_names).index(ch)] for ch in channels]
    eeg = data[rows]
    montage = Montage(ch_names=channels, sfreq=sfreq, rail_uv=None, resolution_uv=None)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "ds"
        simulate_to_dataset(root, 2, 1, seed=0, montage=montage, task_seconds=10, progress=False)
        saved = train_model(root, "lda", "parity", progress=False)
        columns = saved.card["feature_columns"]
        pre = replace(saved.preprocess, channels=channels, transition_share=0.0)
        window = pre.window
        info = mne.create_info(list(channels), sfreq, "eeg")
        raw = mne.io.RawArray(eeg * 1e-6, info, verbose="error")
        raw.set_annotations(
            mne.Annotations([0.0], [eeg.shape[1] / sfreq], [task_description("live")])
        )
        meta = {"participant": "", "session": "", "run": 1}
        frame, _ = blocks_to_frames(
            iter_blocks(raw, pre), saved.features, meta, "x", round(window * sfreq)
        )
        offline_kept = {
            round(s, 2): row
            for s, row in zip(frame["start"], frame[columns].to_numpy(), strict=True)
        }
        offline_starts = [
            round(b.origin / sfreq + s / sfreq, 2) for b in iter_blocks(raw, pre) for s in b.starts
        ]
        spread = float(np.median(np.abs(frame[columns] - frame[columns].median()).to_numpy()))
        print(
            f"{args.seconds:g} s from the synthetic board, {len(offline_starts)} offline windows, "
            f"{len(offline_starts) - len(offline_kept)} rejected offline; history "
            f"{LIVE_HISTORY_SECONDS:g} s; band-power spread across windows {spread:.3f}"
        )
        print(
            "lag_s  windows  live_rejected  offline_rejected  agree  "
            "dpow_median  dpow_p95  dpow_max"
        )
        for lag in LAGS:
            needed = samples_needed(saved, sfreq, lag)
            seen = rejected_live = rejected_off = agree = 0
            diffs = []
            for stop in range(needed, eeg.shape[1] + 1, round(sfreq)):
                start = round((stop - round((lag + window) * sfreq)) / sfreq, 2)
                if start not in offline_starts:
                    continue
                features, reason = classify_window(saved, eeg[:, stop - needed : stop], sfreq, lag)
                offline = offline_kept.get(start)
                seen += 1
                rejected_live += reason is not None
                rejected_off += offline is None
                agree += (reason is None) == (offline is not None)
                if features is not None and offline is not None:
                    diffs.append(np.abs(features - offline))
            d = np.concatenate(diffs) if diffs else np.array([np.nan])
            print(
                f"{lag:5.2f}  {seen:7d}  {rejected_live:13d}  {rejected_off:16d}  {agree:5d}  "
                f"{np.median(d):11.4f}  {np.percentile(d, 95):8.4f}  {d.max():8.3f}"
            )


if __name__ == "__main__":
    main()
