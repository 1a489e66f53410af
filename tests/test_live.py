"""Live classification from BrainFlow's synthetic board."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import mne
import numpy as np
import pytest

from eeg4students.boards import get_board
from eeg4students.cli import main
from eeg4students.events import task_description
from eeg4students.features import blocks_to_frames
from eeg4students.live import (
    ADAPTING,
    DEFAULT_LAG_SECONDS,
    Predictor,
    classify_window,
    run_live,
    samples_needed,
    summarise,
)
from eeg4students.modelstore import ModelError
from eeg4students.names import ADAPT_WARMUP_SECONDS
from eeg4students.preprocess import iter_blocks
from eeg4students.simulate import Montage, simulate_recording, simulate_to_dataset
from eeg4students.training import train_model

SYNTHETIC = Montage(
    ch_names=("Fz", "C3", "Cz", "C4"), sfreq=250.0, rail_uv=None, resolution_uv=None
)


_MODELS: dict = {}


def _model_for(montage):
    if montage not in _MODELS:
        root = Path(tempfile.mkdtemp()) / "ds"
        simulate_to_dataset(root, 2, 1, seed=0, montage=montage, task_seconds=10, progress=False)
        _MODELS[montage] = train_model(root, "lda", "parity", progress=False)
    return _MODELS[montage]


@pytest.fixture(scope="module")
def synthetic_model(tmp_path_factory):
    root = tmp_path_factory.mktemp("live") / "ds"
    simulate_to_dataset(root, 2, 1, seed=0, montage=SYNTHETIC, task_seconds=10, progress=False)
    return train_model(root, "tmv", "live", progress=False)


def test_live_on_the_synthetic_board(synthetic_model):
    seen = []
    # The first window comes after 2 s of history + the 2 s window + the lag.
    updates = run_live(synthetic_model, "synthetic", seconds=6.5, lag=0.5, on_update=seen.append)
    assert updates == seen and len(updates) >= 2
    assert all(u["time"] >= 4.5 and u["window_end"] == round(u["time"] - 0.5, 2) for u in updates)
    classes = set(synthetic_model.card["classes"])
    for update in updates:
        assert update["rejected"] is not None or update["label"] in classes
        # Causal TMV: where the bases agree, that is the label.
        if update["rejected"] is None and update["top"] == update["second"]:
            assert update["label"] == update["top"]
    times = [u["time"] for u in updates]
    assert times == sorted(times)


def test_live_command_prints_labels(synthetic_model, capsys):
    argv = [
        "live",
        "--board",
        "synthetic",
        "--model",
        str(synthetic_model.path),
        "--seconds",
        "6",
        "--lag",
        "0.5",
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "the first comes after 4.5 s" in out and " s  " in out
    last = out.strip().splitlines()[-1]
    assert re.fullmatch(r"\d+ windows: \d+ classified, \d+ rejected( \(.*\))?\.", last), last


def test_live_rejects_and_measures_the_windows_offline_processing_does():
    """Same rejections and band powers as offline, given signal after the window."""
    recording = simulate_recording(0, 1, seed=4, montage=SYNTHETIC, task_seconds=30)
    sfreq = recording.info["sfreq"]
    data = recording.get_data() * 1e6
    saved = _model_for(SYNTHETIC)
    pre = replace(saved.preprocess, channels=SYNTHETIC.ch_names, transition_share=0.0)
    raw = recording.copy().set_annotations(
        mne.Annotations([0.0], [recording.times[-1]], [task_description("live")])
    )
    meta = {"participant": "", "session": "", "run": 1}
    frame, _ = blocks_to_frames(iter_blocks(raw, pre), saved.features, meta, "x", round(2 * sfreq))
    kept = dict(
        zip(frame["start"].round(2), frame[saved.card["feature_columns"]].to_numpy(), strict=True)
    )
    starts = {round((b.origin + s) / sfreq, 2) for b in iter_blocks(raw, pre) for s in b.starts}

    def compare(lag):
        needed = samples_needed(saved, sfreq, lag)
        agree, distances = [], []
        for stop in range(needed, data.shape[1], round(sfreq)):
            start = round((stop - round((lag + 2.0) * sfreq)) / sfreq, 2)
            if start not in starts:
                continue
            features, reason = classify_window(saved, data[:, stop - needed : stop], sfreq, lag)
            agree.append((reason is None) == (start in kept))
            if features is not None and start in kept:
                distances.append(np.abs(features - kept[start]))
        return np.mean(agree), np.percentile(np.concatenate(distances), 95), len(agree)

    share, p95, n = compare(DEFAULT_LAG_SECONDS)
    assert n >= 20 and share == 1.0 and p95 < 0.05, (share, p95)
    _, p95_no_lag, _ = compare(0.0)
    assert p95_no_lag > 5 * p95  # the newest window's band powers are the filters' edge


def test_summary_counts_classified_and_rejected_windows():
    updates = [
        {"rejected": None},
        {"rejected": "amplitude"},
        {"rejected": "plateau"},
        {"rejected": "amplitude"},
    ]
    assert summarise(updates) == "4 windows: 1 classified, 3 rejected (amplitude 2, plateau 1)."
    assert summarise([]) == "0 windows: 0 classified, 0 rejected."
    adapting = [{"rejected": "adapting"}] * 2 + updates[:2]
    assert summarise(adapting) == (
        "4 windows: 1 classified, 2 set the session's adaptation, 1 rejected (amplitude 1)."
    )


@pytest.mark.parametrize("model", ["lda", "tmvts"])
def test_an_adapted_model_live_first_learns_the_session_then_labels(tmp_path, model):
    # tmvts: band powers and re-centred covariance matrices, routed to its bases, live.
    root = tmp_path / "ds"
    simulate_to_dataset(root, 2, 1, seed=0, montage=SYNTHETIC, task_seconds=10, progress=False)
    small = {"base_params": {"rf": {"n_estimators": 20}}} if model == "tmvts" else None
    saved = train_model(
        root, model, "adapted", adapt="session", model_params=small, progress=False
    )
    spec = get_board("synthetic")
    raw = simulate_recording(2, 1, seed=0, montage=SYNTHETIC, task_seconds=10)
    stream = np.zeros((len(spec.eeg_names), raw.n_times))
    for name in SYNTHETIC.ch_names:
        stream[spec.eeg_names.index(name)] = raw.get_data(picks=[name])[0] * 1e6
    hop = round(saved.preprocess.hop * spec.sfreq)
    predictor = Predictor(saved, spec)
    updates = [
        predictor.predict(stream[:, :end]) for end in range(predictor.needed, raw.n_times + 1, hop)
    ]
    reasons = [u["rejected"] for u in updates]
    warmup = int(np.ceil(ADAPT_WARMUP_SECONDS / saved.preprocess.hop))
    fed = [i for i, r in enumerate(reasons) if r in (None, ADAPTING)]
    # The first windows only set the statistics; every kept window after them is labelled.
    assert [reasons[i] for i in fed[:warmup]] == [ADAPTING] * warmup
    assert all(reasons[i] is None for i in fed[warmup:]) and len(fed) > warmup + 10
    labelled = [u["label"] for u in updates if u["rejected"] is None]
    assert set(labelled) <= set(saved.card["classes"]) and len(set(labelled)) > 1


def test_live_refuses_a_model_for_other_channels(tmp_path):
    root = tmp_path / "ds"
    simulate_to_dataset(root, 2, 1, seed=0, task_seconds=8, progress=False)
    muse = train_model(root, "lda", "muse", progress=False)
    with pytest.raises(ModelError, match="Train a model on recordings from this headset"):
        run_live(muse, "synthetic", seconds=1)


def test_a_refused_model_leaves_no_converted_replay_behind(synthetic_model, tmp_path, monkeypatch):
    """A replay converted for the playback board is made only once the model fits the board."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    muse_lsl = Path(__file__).resolve().parents[1] / "eeg4students/samples/muse-lsl"
    connection = {"file": str(next(muse_lsl.glob("*.csv"))), "master_board": "muse_2"}
    with pytest.raises(ModelError, match="Train a model on recordings from this headset"):
        run_live(synthetic_model, "playback", seconds=1, **connection)
    assert not list(tmp_path.glob("eeg4students-playback-*"))


@pytest.mark.slow
def test_live_ends_on_ctrl_c_when_started_ignoring_sigint(synthetic_model):
    # (SIGTERM goes through the same handler: record's and classroom's tests send it.)
    sent = signal.SIGINT
    from conftest import Lines

    argv = ["live", "--board", "synthetic", "--model", str(synthetic_model.path), "--lag", "0.5"]
    process = subprocess.Popen(
        [sys.executable, "-m", "eeg4students", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    lines = Lines(process.stdout)
    lines.wait_for(" s  ", timeout=120)  # a window was classified: the stream runs
    process.send_signal(sent)
    process.wait(timeout=60)
    assert process.returncode == 0, process.stderr.read()
    lines.wait_for("windows:", timeout=30)  # the summary of the run so far
