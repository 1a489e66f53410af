"""Band powers, the feature table and its cache."""

from __future__ import annotations

import mne
import numpy as np
import pandas as pd
import pytest
import scipy.signal

from eeg4students.events import task_description
from eeg4students.features import (
    FeatureError,
    FeatureParams,
    block_features,
    feature_names,
    window_band_power,
)
from eeg4students.featureset import compute_features
from eeg4students.preprocess import PreprocessError, PreprocessParams, iter_blocks
from eeg4students.simulate import simulate_recording
from eeg4students.store import Dataset

SFREQ = 256.0


def _sine_raw(freq=10.0, amp=20.0, seconds=40.0):
    t = np.arange(int(seconds * SFREQ)) / SFREQ
    data = np.vstack([amp * np.sin(2 * np.pi * freq * t + k) for k in range(4)])
    info = mne.create_info(["TP9", "AF7", "AF8", "TP10"], SFREQ, "eeg")
    raw = mne.io.RawArray(data * 1e-6, info, verbose="error")
    # Leave 5 s of signal before and after the block for the filters to settle.
    raw.set_annotations(mne.Annotations([5.0], [seconds - 10], [task_description("Think")]))
    return raw


@pytest.mark.parametrize("hop", [1.0, 0.3])
def test_band_power_matches_direct_welch_on_a_sinusoid(hop):
    params = PreprocessParams(window=2.0, hop=hop, transition_share=0.0, line_freq=60.0)
    block = next(iter_blocks(_sine_raw(), params))
    feat = FeatureParams()
    power = window_band_power(block, feat, 512)
    for k in (0, len(block.starts) // 2, len(block.starts) - 1):
        segment = block.data[:, block.starts[k] : block.starts[k] + 512]
        freqs, psd = scipy.signal.welch(segment, SFREQ, window="hann", nperseg=256, noverlap=128)
        for b, (_, lo, hi) in enumerate(feat.bands):
            expected = psd[:, (freqs >= lo) & (freqs < hi)].sum(axis=1) * (freqs[1] - freqs[0])
            np.testing.assert_allclose(power[k, :, b], expected, rtol=1e-9, atol=1e-9)
    # A 20 uV sine carries 200 uV^2, all of it in alpha (8-13 Hz).
    alpha = power[:, :, 2]
    np.testing.assert_allclose(alpha, 200.0, rtol=0.03)
    assert power[:, :, [0, 1, 3, 4]].max() < 0.01 * alpha.min()


def test_relative_power_ratios_and_names():
    params = FeatureParams(relative=True, ratios=(("theta", "beta"),))
    block = next(iter_blocks(simulate_recording(0, 1, task_seconds=10), PreprocessParams()))
    values = block_features(block, params, 512)
    names = feature_names(block.ch_names, params)
    assert values.shape == (block.kept.sum(), len(names)) == (block.kept.sum(), 44)
    frame = pd.DataFrame(values, columns=names)
    rel = frame[[f"TP9_{b}_rel" for b in ("delta", "theta", "alpha", "beta", "gamma")]]
    np.testing.assert_allclose(rel.sum(axis=1), 1.0)
    np.testing.assert_allclose(
        frame["AF7_theta_beta_ratio"], frame["AF7_theta"] - frame["AF7_beta"]
    )


def test_feature_settings_errors():
    with pytest.raises(FeatureError, match="above Nyquist"):
        FeatureParams(bands=(("high", 100.0, 150.0),)).check(256.0, 2.0)
    with pytest.raises(FeatureError, match="empty"):
        FeatureParams(bands=(("x", 8.0, 4.0),))
    with pytest.raises(FeatureError, match="not defined"):
        FeatureParams(ratios=(("theta", "mu"),))


@pytest.fixture
def small_dataset(tmp_path):
    from eeg4students.simulate import simulate_to_dataset

    root = tmp_path / "ds"
    simulate_to_dataset(root, 2, 2, seed=1, task_seconds=12, progress=False)
    return Dataset(root)


def test_feature_table_columns_and_metadata(small_dataset):
    result = compute_features(small_dataset, progress=False)
    table = result.table
    meta = ["participant", "session", "run", "task", "recording", "block", "start", "block_time"]
    assert list(table.columns[:8]) == meta
    assert result.feature_columns == [
        f"{ch}_{band}"
        for ch in ("TP9", "AF7", "AF8", "TP10")
        for band in ("delta", "theta", "alpha", "beta", "gamma")
    ]
    assert set(table["participant"]) == {"sim01", "sim02"}
    quality = result.quality
    assert len(quality) == 20  # 2 participants x 2 sessions x 5 blocks
    assert set(table["block"]) == set(quality.loc[quality["excluded"] == "", "block"])
    assert (table.groupby("block")["task"].nunique() == 1).all()
    # Block 1 of session 2 is Breathe (session order 4 1 2 3 5).
    first = table[table["block"] == "sub-sim01_ses-2_task-eeg4students_run-1_blk-01"]
    assert set(first["task"]) == {"Breathe"}
    assert (first["block_time"] >= 0.3 * 12 - 1e-6).all()
    assert {"share_kept", "excluded", "notes"} <= set(quality.columns)
    assert (result.folder / "quality.tsv").is_file()
    assert (result.folder.parent.parent / "dataset_description.json").is_file()


def test_cache_reused_and_invalidated(small_dataset):
    first = compute_features(small_dataset, progress=False)
    assert first.cached == 0
    again = compute_features(small_dataset, progress=False)
    assert again.cached == 4
    pd.testing.assert_frame_equal(first.table, again.table)
    # New parameters: a new cache folder, computed afresh.
    other = compute_features(small_dataset, PreprocessParams(hop=0.5), progress=False)
    assert other.cached == 0 and other.folder != first.folder
    assert len(other.table) > len(first.table)
    # A recording whose content changes is recomputed; the others are reused.
    replacement = simulate_recording(0, 1, seed=99, task_seconds=12)
    small_dataset.add_recording(replacement, "sim01", "1", "eeg4students", 1, overwrite=True)
    changed = compute_features(small_dataset, progress=False)
    assert changed.cached == 3
    sim01 = changed.table["recording"] == "sub-sim01_ses-1_task-eeg4students_run-1"
    assert not np.allclose(
        changed.table.loc[sim01, "TP9_alpha"].to_numpy()[:5],
        first.table.loc[sim01, "TP9_alpha"].to_numpy()[:5],
    )
    # Touching a file without changing it keeps the cache.
    for path in small_dataset.root.rglob("*_eeg.eeg"):
        path.touch()
    assert compute_features(small_dataset, progress=False).cached == 4


@pytest.mark.parametrize("damage", ["parquet", "sidecar", "sidecar not an object"])
def test_damaged_cache_is_rebuilt(small_dataset, damage):
    first = compute_features(small_dataset, progress=False)
    parquet = sorted(first.folder.rglob("*_features.parquet"))[0]
    sidecar = parquet.with_name(parquet.name.replace("_features.parquet", "_windows.json"))
    if damage == "parquet":
        parquet.write_bytes(b"PAR1 garbage")
    elif damage == "sidecar":
        sidecar.write_text("{")
    else:
        sidecar.write_text("[1, 2]")
    again = compute_features(small_dataset, progress=False)
    assert again.cached == 3
    pd.testing.assert_frame_equal(first.table, again.table)
    assert compute_features(small_dataset, progress=False).cached == 4


def test_flat_recording_and_too_long_window_are_named(tmp_path):
    dataset = Dataset.create(tmp_path / "ds")
    info = mne.create_info(["TP9", "AF7", "AF8", "TP10"], SFREQ, "eeg")
    flat = mne.io.RawArray(np.full((4, int(30 * SFREQ)), 5e-6), info, verbose="error")
    flat.set_annotations(mne.Annotations([0.0], [29.0], [task_description("Think")]))
    dataset.add_recording(flat, "p01", "1", "rest")
    result = compute_features(dataset, progress=False)
    assert result.problems == [
        "sub-p01_ses-1_task-rest_run-1: no window kept: its channels are flat (the headset "
        "had no contact); check the fit and record again."
    ]
    assert result.table.empty
    with pytest.raises(PreprocessError, match="window is longer than every block"):
        compute_features(dataset, PreprocessParams(window=25.0), progress=False)
    with pytest.raises(Exception, match="no participant 'p09'"):
        compute_features(dataset, participants=["p09"], progress=False)
