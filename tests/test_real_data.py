"""Real recordings from ../shared/data (skipped with a reason when absent)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import MUSE_DIR, OPENBCI_DIR, require

from eeg4students.cli import main
from eeg4students.events import BAD_GAP
from eeg4students.io import detect_format, read_recording
from eeg4students.store import Dataset

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def muse_dataset(tmp_path_factory):
    folder = require(MUSE_DIR)
    root = tmp_path_factory.mktemp("real") / "muse"
    argv = ["import", str(folder), "--to", str(root)]
    assert main([*argv, "--pattern", "subject{participant}-{task}-{session}.csv"]) == 0
    return Dataset(root)


def test_every_muse_file_imports_and_info_lists_four_participants(muse_dataset, capsys):
    table = muse_dataset.recordings()
    assert len(table) == 24
    assert muse_dataset.participants() == ["a", "b", "c", "d"]
    capsys.readouterr()
    assert main(["dataset", "info", str(muse_dataset.root)]) == 0
    assert "4 participants, 8 sessions, 24 recordings" in capsys.readouterr().out


def test_short_clipped_and_gapped_recordings_are_reported(muse_dataset):
    table = muse_dataset.recordings().set_index(["participant", "session", "task"])
    assert table.loc[("c", "2", "neutral"), "notes"].startswith("short (9.1 s)")
    assert table.loc[("d", "2", "concentrating"), "notes"].startswith("short (3.5 s)")
    gapped = table.loc[("b", "2", "relaxed")]
    assert gapped["n_gaps"] == 9 and gapped["gap_s"] > 900
    clipped = table[table["max_clipped_share"] > 0.001]
    assert len(clipped) >= 5
    assert all("clipped" in note for note in clipped["notes"])
    normal = table.loc[("a", "1", "relaxed")]
    assert normal["notes"] == "" and normal["duration_s"] == pytest.approx(59.4, abs=0.1)


def test_real_recording_with_gaps_round_trips(muse_dataset):
    source = read_recording(MUSE_DIR / "subjectb-relaxed-2.csv")
    back = muse_dataset.load("b", "2", "relaxed", 1)
    np.testing.assert_allclose(back.get_data(), source.get_data(), atol=1e-10, rtol=0)
    gaps_in = source.annotations[source.annotations.description == BAD_GAP]
    gaps_out = back.annotations[back.annotations.description == BAD_GAP]
    np.testing.assert_allclose(gaps_out.onset, gaps_in.onset, atol=1e-5)
    np.testing.assert_allclose(gaps_out.duration, gaps_in.duration, atol=1e-5)


def test_openbci_old_and_v6_give_the_same_samples():
    folder = require(OPENBCI_DIR)
    old = folder / "OpenBCI-sampleData-1-blinks-jawClench-alpha.txt"
    new = folder / "OpenBCI_GUI-v6-blinks-jawClench-alpha.txt"
    assert detect_format(old) == detect_format(new) == "openbci"
    a, b = read_recording(old), read_recording(new)
    assert a.n_times == b.n_times == 22490
    assert a.info["sfreq"] == b.info["sfreq"] == 250.0
    assert a.ch_names == b.ch_names and len(a.ch_names) == 8
    np.testing.assert_array_equal(a.get_data(), b.get_data())
    assert a.info["meas_date"] == b.info["meas_date"]
    assert a.info["bads"] == b.info["bads"] == []


def test_real_muse_quality_table_and_features(muse_dataset):
    from eeg4students.featureset import compute_features

    result = compute_features(muse_dataset, progress=False)
    quality = result.quality.set_index("recording")
    assert len(quality) == 24 and quality["share_kept"].between(0, 1).all()
    short = quality.loc["sub-d_ses-2_task-concentrating_run-1"]
    assert short["notes"].startswith("short") and short["excluded"].startswith("block")
    # The 3.5 s file is too short for the filters: said as such, not "raise --max-ptp".
    said = [p for p in result.problems if "sub-d_ses-2_task-concentrating" in p]
    assert said and "too short for the filters" in said[0] and "--max-ptp" not in said[0]
    gapped = quality.loc["sub-b_ses-2_task-relaxed_run-1"]
    assert gapped["bad_annotation"] > 0.9 * gapped["n_windows"]
    assert gapped["excluded"].startswith("block")
    clipped = quality[quality["notes"].str.contains("clipped")]
    assert (clipped["clipped"] > 0).any()
    usable = quality[quality["excluded"] == ""].index
    assert set(result.table["recording"]) == set(usable)
    assert len(usable) >= 20
    assert result.table[result.feature_columns].notna().all().all()
    assert set(result.table["task"]) == {"concentrating", "neutral", "relaxed"}


def test_evaluate_without_a_scheme_runs_cross_session_on_the_muse_days(
    muse_dataset, tmp_path, capsys
):
    capsys.readouterr()
    argv = ["evaluate", str(muse_dataset.root), "--models", "lda", "--out", str(tmp_path / "e")]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "Scheme cross-session: 4 of 4 participants have two or more sessions" in out
    assert "Mean accuracy per participant, cross-session (chance 0.33 for 3 tasks" in out


def test_forgetting_a_muse_participant_is_checked_on_them(muse_dataset, tmp_path, capsys):
    # Every participant trained the model: the shadows can only vary their seeds, and the
    # output says so. A dry run of conmu shows P's figures and changes nothing; the real
    # retrain is proved identical to a retrain without P by digest.
    import shutil

    root = tmp_path / "muse"
    shutil.copytree(muse_dataset.root, root)
    argv = ["train", str(root), "--model", "rf", "--name", "m"]
    assert main(argv) == 0
    capsys.readouterr()
    before = sorted(p for p in root.rglob("*") if p.is_file())
    argv = ["forget", str(root), "--participant", "a", "--evaluate", "--shadows", "8"]
    assert main([*argv, "--dry-run", "--strategy", "conmu"]) == 0
    out = capsys.readouterr().out
    rows = {
        line.split()[0]: line
        for line in out.splitlines()
        if line.split() and line.split()[0] in ("original", "updated", "gold")
    }
    assert "NOT FORGOTTEN" in rows["original"] and "acc P" in out
    assert "shadow models could only vary their seeds" in out
    assert "Dry run: nothing was changed" in out
    assert sorted(p for p in root.rglob("*") if p.is_file()) == before
    assert main([*argv, "--yes"]) == 0
    out = capsys.readouterr().out
    assert "exact: identical to a retrain without P with the same seeds" in out
    assert "acc P" not in out
    assert "a" not in Dataset(root).participants()
