"""Filtering, windows and rejection, on constructed signals."""

from __future__ import annotations

import mne
import numpy as np
import pandas as pd
import pytest

from eeg4students.events import task_description
from eeg4students.preprocess import (
    REASONS,
    PreprocessError,
    PreprocessParams,
    design_filters,
    iter_blocks,
    plateau_mask,
    quality_summary,
)
from eeg4students.simulate import simulate_recording

SFREQ = 256.0


def _raw(data_uv: np.ndarray, blocks=((0.0, None, "Think"),), sfreq=SFREQ, model=None):
    info = mne.create_info(["TP9", "AF7", "AF8", "TP10"][: len(data_uv)], sfreq, "eeg")
    raw = mne.io.RawArray(data_uv * 1e-6, info, verbose="error")
    onsets = [b[0] for b in blocks]
    durations = [b[1] if b[1] is not None else raw.times[-1] - b[0] for b in blocks]
    raw.set_annotations(
        mne.Annotations(onsets, durations, [task_description(b[2]) for b in blocks])
    )
    if model:
        with raw.info._unlock():
            raw.info["device_info"] = {"model": model}
    return raw


def _noise(seconds: float, n_ch: int = 4, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, 10, (n_ch, int(seconds * SFREQ)))


@pytest.mark.parametrize(
    ("sfreq", "run", "flagged"),
    [(256, 359, False), (256, 360, True), (10, 14, False), (10, 15, True)],
)
def test_plateau_boundary_is_exactly_1_4_seconds(sfreq, run, flagged):
    # A run of n samples spans (n - 1) / sfreq: 15 samples at 10 Hz is the study's rule.
    row = np.random.default_rng(1).normal(0, 10, 3 * run)
    row[run : 2 * run] = 42.0
    mask = plateau_mask(row[None, :], sfreq, 1.4, 0.0)
    assert mask[run : 2 * run].all() == flagged
    assert mask.any() == flagged
    assert not mask[: run - 1].any() and not mask[2 * run + 1 :].any()


def test_plateau_within_a_tiny_range():
    row = np.random.default_rng(2).normal(0, 10, 2000)
    row[500:1100] = 7.0 + 0.4 * (np.arange(600) % 2)  # jitters between two codes
    assert plateau_mask(row[None], SFREQ, 1.4, tol_uv=1.0)[500:1100].all()
    assert not plateau_mask(row[None], SFREQ, 1.4, tol_uv=0.0).any()


def test_transition_share_is_dropped_and_windows_stay_inside_blocks():
    blocks = ((2.0, 20.0, "Think"), (30.0, 20.0, "Count"))
    raw = _raw(_noise(60), blocks)
    for share in (0.0, 0.3):
        params = PreprocessParams(transition_share=share, window=2.0, hop=0.5)
        for block, (onset, duration, _) in zip(iter_blocks(raw, params), blocks, strict=True):
            starts = (block.origin + block.starts) / SFREQ
            assert starts[0] == pytest.approx(onset + share * duration, abs=1 / SFREQ)
            assert starts[-1] + 2.0 <= onset + duration + 1e-9
            assert np.allclose(np.diff(starts), 0.5)


def test_windows_touching_bad_annotations_are_rejected():
    raw = _raw(_noise(40), ((0.0, 40.0, "Think"),))
    raw.annotations.append([20.0], [0.5], ["BAD_gap"])
    params = PreprocessParams(transition_share=0.0, window=2.0, hop=1.0)
    block = next(iter_blocks(raw, params))
    starts = (block.origin + block.starts) / SFREQ
    overlaps = (starts < 20.5) & (starts + 2.0 > 20.0)
    code = REASONS.index("bad_annotation") + 1
    assert np.array_equal(block.reasons == code, overlaps)
    assert block.kept[~overlaps].all()


def test_clipping_and_amplitude_and_bad_channel():
    data = _noise(40)
    data[1, int(10.2 * SFREQ)] = 1000.0  # one sample at the Muse rail
    data[2, int(25 * SFREQ) : int(25.3 * SFREQ)] += 400.0  # a 400 uV step: large peak-to-peak
    raw = _raw(data, model="muse")
    params = PreprocessParams(transition_share=0.0, window=2.0, hop=1.0, max_ptp_uv=300.0)
    block = next(iter_blocks(raw, params))
    starts = (block.origin + block.starts) / SFREQ
    clipped = (starts <= 10.2) & (starts + 2 > 10.2)
    assert np.array_equal(block.reasons == REASONS.index("clipped") + 1, clipped)
    big = block.reasons == REASONS.index("amplitude") + 1
    assert big.any() and np.all((starts[big] > 22) & (starts[big] < 26.5))
    raw.info["bads"] = ["AF7"]
    block = next(iter_blocks(raw, params))
    assert (block.reasons == REASONS.index("bad_channel") + 1).all()
    # Leaving the bad channel out makes the windows usable again.
    without = PreprocessParams(transition_share=0.0, channels=("TP9", "AF8", "TP10"))
    assert next(iter_blocks(raw, without)).kept.any()


@pytest.mark.parametrize("method", ["iir", "fir"])
def test_filters_are_zero_phase_and_remove_line_noise(method):
    t = np.arange(int(20 * SFREQ)) / SFREQ
    signal = 20 * np.sin(2 * np.pi * 10 * t)
    data = np.vstack([signal + 30 * np.sin(2 * np.pi * 50 * t) + 100.0] * 4)
    filters = design_filters(SFREQ, PreprocessParams(filter_method=method), line_freq=50.0)
    out = filters.apply(data)
    middle = slice(int(5 * SFREQ), int(15 * SFREQ))
    np.testing.assert_allclose(out[0, middle], signal[middle], atol=1.0)


def test_average_reference():
    filters = design_filters(SFREQ, PreprocessParams(reference="average"), line_freq=50.0)
    out = filters.apply(_noise(10))
    np.testing.assert_allclose(out.mean(axis=0), 0, atol=1e-9)


def test_bad_input_messages():
    with pytest.raises(PreprocessError, match="no task annotations"):
        list(iter_blocks(_raw(_noise(10), blocks=()), PreprocessParams()))
    with pytest.raises(PreprocessError, match="at or above Nyquist"):
        list(iter_blocks(_raw(_noise(10)), PreprocessParams(h_freq=130)))
    with pytest.raises(PreprocessError, match="'Cz' is not an EEG channel"):
        list(iter_blocks(_raw(_noise(10)), PreprocessParams(channels=("Cz",))))
    with pytest.raises(PreprocessError, match="band-pass 40-1 Hz is empty"):
        PreprocessParams(l_freq=40, h_freq=1)
    # A block too short for one window yields no windows rather than failing.
    block = next(iter_blocks(_raw(_noise(10)), PreprocessParams(window=20)))
    assert len(block.starts) == 0


def test_quality_summary_excludes_and_lists_each_level():
    rows = []
    for participant, shares in {"p1": [1.0, 0.9, 0.1], "p2": [0.2, 0.3, 0.2]}.items():
        for i, share in enumerate(shares):
            kept = int(share * 10)
            rows.append(
                {
                    "participant": participant,
                    "session": "1" if i < 2 else "2",
                    "run": 1,
                    "task": "Think",
                    "block": f"{participant}-{i}",
                    "n_windows": 10,
                    "kept": kept,
                    **{r: 0 for r in REASONS},
                    "amplitude": 10 - kept,
                }
            )
    table, excluded = quality_summary(pd.DataFrame(rows), min_kept=0.35)
    levels = {
        (r.level, r.participant, r.session if isinstance(r.session, str) else "")
        for r in excluded.itertuples()
    }
    assert ("participant", "p2", "") in levels
    assert ("session", "p1", "2") in levels
    assert table.set_index("block").loc["p1-0", "excluded"] == ""
    assert table.set_index("block").loc["p1-2", "excluded"].startswith("session")
    assert table.set_index("block").loc["p2-1", "excluded"].startswith("participant")


def test_simulated_session_keeps_most_windows_and_rejects_its_artifacts():
    raw = simulate_recording(3, 1, seed=2)
    blocks = list(iter_blocks(raw, PreprocessParams()))
    assert [b.task for b in blocks] == ["Think", "Count", "Recall", "Breathe", "Draw"]
    counts = pd.DataFrame([b.counts() for b in blocks]).sum()
    assert 0.6 < counts["kept"] / counts["n_windows"] < 1.0
