"""Channel choice: the set that keeps the most good data, on cohorts shaped like real ones."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import write_openbci

from eeg4students.channels import choose_channels
from eeg4students.cli import main
from eeg4students.featureset import compute_features
from eeg4students.preprocess import PreprocessParams

EIGHT = tuple(f"EXG{i}" for i in range(1, 9))


def _ids(n: int) -> list[str]:
    return [f"r{i}" for i in range(n)]


def test_a_channel_connected_in_a_few_recordings_is_left_out():
    # The OpenBCI GUI cohort's shape: EXG1-2 wired, EXG3 wired in 2 of 40, EXG4-8 never.
    bad = [
        {"EXG4", "EXG5", "EXG6", "EXG7", "EXG8"} | ({"EXG3"} if i >= 2 else set())
        for i in range(40)
    ]
    choice = choose_channels(list(EIGHT), bad, [60.0] * 40, _ids(40))
    assert choice.channels == ["EXG1", "EXG2"]
    assert choice.bad_in["EXG3"] == 38 and choice.bad_in["EXG8"] == 40 and not choice.lost
    assert (
        "bad in 38 of 40" in choice.describe() and "EXG8 (bad in all of 40)" in choice.describe()
    )


def test_a_channel_bad_in_one_recording_of_forty_is_kept_and_that_recording_lost():
    bad = [{"AF7"} if i == 7 else set() for i in range(40)]
    choice = choose_channels(["TP9", "AF7", "AF8", "TP10"], bad, [60.0] * 40, _ids(40))
    assert choice.channels == ["TP9", "AF7", "AF8", "TP10"] and choice.lost == ["r7"]


def test_longer_recordings_weigh_more():
    # AF7 is bad in the one long recording: keeping it costs more than it gives.
    bad = [{"AF7"}] + [set()] * 3
    choice = choose_channels(["TP9", "AF7"], bad, [600.0, 10.0, 10.0, 10.0], _ids(4))
    assert choice.channels == ["TP9"]


def test_many_channels_are_chosen_by_the_best_prefix():
    names = [f"C{i}" for i in range(24)]
    bad = [{"C3", "C20"} if i % 2 else {"C20"} for i in range(10)]
    choice = choose_channels(names, bad, [1.0] * 10, _ids(10))
    assert "C20" not in choice.channels and len(choice.channels) >= 22


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    """40 OpenBCI GUI files, one per participant: 2 of 8 channels carry EEG everywhere.

    EXG3 is connected in 2 recordings only and EXG4-EXG8 in none, as in a
    published 2017 GUI cohort; the folder is imported unmodified (the reader
    marks flat channels bad, as it would for the real files).
    """
    folder = tmp_path_factory.mktemp("channels") / "openbci"
    folder.mkdir()
    rng = np.random.default_rng(5)
    for p in range(40):
        data = np.zeros((8, 250 * 30))
        data[:2] = rng.normal(0, 15, (2, data.shape[1]))
        if p < 2:
            data[2] = rng.normal(0, 15, data.shape[1])
        write_openbci(folder / f"s{p:02d}.txt", data)
    root = folder.parent / "cohort"
    argv = ["import", str(folder), "--to", str(root), "--pattern", "s{participant}.txt"]
    assert main(["-q", *argv, "--session", "1", "--task", "rest"]) == 0
    return root


def test_default_features_keep_the_cohort_whose_third_channel_is_mostly_unconnected(cohort):
    features = compute_features(cohort, progress=False)
    assert features.preprocess.channels == ("EXG1", "EXG2")
    kept = features.table.groupby("participant").size()
    assert len(kept) == 40 and (kept > 0).all()
    assert features.channels.bad_in["EXG3"] == 38 and not features.channels.lost
    # Naming the channels still overrides the choice.
    named = compute_features(cohort, PreprocessParams(channels=("EXG1", "EXG3")), progress=False)
    assert set(named.table["participant"]) == {"00", "01"}


def test_recordings_of_other_layouts_are_refused_clearly_or_cut_to_shared_channels(tmp_path):
    from conftest import muse_samples, write_muse_lsl

    from eeg4students.errors import DatasetError

    rng = np.random.default_rng(9)
    folder = tmp_path / "files"
    folder.mkdir()
    t = 1.7e9 + np.arange(256 * 30) / 256
    for p in ("m1", "m2"):
        write_muse_lsl(folder / f"{p}.csv", muse_samples(rng, len(t)), t)
    for p in ("o1", "o2"):
        write_openbci(folder / f"{p}.txt", rng.normal(0, 15, (8, 250 * 30)))
    root = tmp_path / "mixed"
    argv = ["-q", "import", str(folder), "--to", str(root), "--pattern", "{participant}.*"]
    assert main([*argv, "--session", "1", "--task", "rest"]) == 0
    # A Muse and an OpenBCI board share no channel: one clear sentence, not a NaN error.
    with pytest.raises(DatasetError, match="share no EEG channel"):
        compute_features(root, progress=False)
    muse = compute_features(root, participants=["m1", "m2"], progress=False)
    assert muse.table[muse.feature_columns].notna().all().all() and len(muse.feature_columns) == 20
    # One recording with a channel the others lack: the shared ones are used.
    extra = tmp_path / "extra"
    for k in range(3):
        data = rng.normal(0, 15, (8, 250 * 30))
        write_openbci(extra.parent / f"e{k}.txt", data)
    channels = [
        "Fp1,Fp2,C3,C4,P7,P8,O1,O2",
        "Fp1,Fp2,C3,C4,P7,P8,O1,O2",
        "Fp1,Fp2,C3,C4,P7,P8,O1,Oz",
    ]
    for k, names in enumerate(channels):
        argv = ["-q", "import", str(extra.parent / f"e{k}.txt"), "--to", str(extra)]
        assert (
            main(
                [
                    *argv,
                    "--participant",
                    f"e{k}",
                    "--session",
                    "1",
                    "--task",
                    "rest",
                    "--channels",
                    names,
                ]
            )
            == 0
        )
    shared = compute_features(extra, progress=False)
    assert shared.preprocess.channels == ("Fp1", "Fp2", "C3", "C4", "P7", "P8", "O1")
    assert shared.channels.missing_in == {"O2": 1, "Oz": 2}
    assert "O2 (not in 1 of 3)" in shared.channels.describe()
    assert shared.table[shared.feature_columns].notna().all().all()
