"""The BIDS dataset store: write, list, load back, refuse bad labels, roll back."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from eeg4students.errors import DatasetError, LabelError
from eeg4students.events import task_blocks
from eeg4students.simulate import simulate_recording
from eeg4students.store import Dataset, check_label


@pytest.fixture(scope="module")
def recording():
    return simulate_recording(0, 2, seed=3, task_seconds=10)


def test_round_trip_same_samples_annotations_and_date(tmp_path, recording):
    dataset = Dataset.create(tmp_path / "ds")
    ref = dataset.add_recording(recording, "p01", "2", "eeg4students")
    assert ref.run == 1 and ref.path.is_file()
    back = dataset.load("p01", "2", "eeg4students", 1)
    assert back.ch_names == recording.ch_names
    assert back.info["sfreq"] == recording.info["sfreq"]
    # float32 microvolts: well under a nanovolt of error.
    np.testing.assert_allclose(back.get_data(), recording.get_data(), atol=1e-10, rtol=0)
    assert back.info["meas_date"] == recording.info["meas_date"]
    pd.testing.assert_frame_equal(task_blocks(back), task_blocks(recording), atol=1e-5)
    assert list(task_blocks(back)["task"]) == ["Breathe", "Think", "Count", "Recall", "Draw"]
    assert back.info["device_info"]["model"] == "simulated"


def test_bids_files_on_disk(tmp_path, recording):
    root = tmp_path / "ds"
    dataset = Dataset.create(root)
    dataset.add_recording(recording, "p01", "1", "eeg4students")
    dataset.add_recording(recording, "p02", "1", "eeg4students")
    dataset.add_recording(recording, "p02", "2", "eeg4students")
    assert json.loads((root / "dataset_description.json").read_text())["BIDSVersion"]
    participants = pd.read_csv(root / "participants.tsv", sep="\t")
    assert list(participants["participant_id"]) == ["sub-p01", "sub-p02"]
    sessions = pd.read_csv(root / "sub-p02" / "sub-p02_sessions.tsv", sep="\t")
    assert list(sessions["session_id"]) == ["ses-1", "ses-2"]
    eeg_dir = root / "sub-p01" / "ses-1" / "eeg"
    stem = "sub-p01_ses-1_task-eeg4students_run-1"
    for suffix in ("_eeg.vhdr", "_eeg.eeg", "_eeg.json", "_channels.tsv", "_events.tsv"):
        assert (eeg_dir / f"{stem}{suffix}").is_file(), suffix
    events = pd.read_csv(eeg_dir / f"{stem}_events.tsv", sep="\t")
    assert (events["trial_type"].str.startswith("task/")).sum() == 5
    sidecar = json.loads((eeg_dir / f"{stem}_eeg.json").read_text())
    assert "EEG4Students" not in sidecar  # the older validator refuses unknown keys
    meta = json.loads((eeg_dir / f"{stem}_eeg4students.json").read_text())
    assert meta["duration_s"] == pytest.approx(recording.times[-1], abs=0.01)
    assert "*_eeg4students.json" in (root / ".bidsignore").read_text().splitlines()
    description = json.loads((root / "dataset_description.json").read_text())
    assert "Authors" not in description  # no "[Unspecified]" placeholders
    assert description["GeneratedBy"][0]["Name"] == "eeg4students"


def test_recordings_written_before_the_meta_file_still_read(tmp_path, recording):
    """Datasets of earlier versions kept the toolkit's facts in *_eeg.json."""
    root = tmp_path / "ds"
    dataset = Dataset.create(root)
    ref = dataset.add_recording(recording, "p01", "1", "eeg4students")
    meta_file = ref.path.with_name(ref.path.name.replace("_eeg.vhdr", "_eeg4students.json"))
    sidecar_file = ref.path.with_suffix(".json")
    sidecar = json.loads(sidecar_file.read_text())
    sidecar["EEG4Students"] = {**json.loads(meta_file.read_text()), "bad_channels": ["AF7"]}
    sidecar_file.write_text(json.dumps(sidecar))
    meta_file.unlink()
    table = dataset.recordings()
    assert table["bad_channels"].iloc[0] == ["AF7"] and table["device"].iloc[0] == "simulated"


def test_describe_sets_authors_and_licence(tmp_path, recording):
    root = tmp_path / "ds"
    dataset = Dataset.create(root, authors=["Ada Lovelace"], license="CC0")
    description = json.loads((root / "dataset_description.json").read_text())
    assert description["Authors"] == ["Ada Lovelace"] and description["License"] == "CC0"
    dataset.describe(authors=["Ada Lovelace", "Alan Turing"], license="CC-BY-4.0")
    dataset.add_recording(recording, "p01", "1", "eeg4students")  # mne-bids keeps it
    description = json.loads((root / "dataset_description.json").read_text())
    assert description["Authors"] == ["Ada Lovelace", "Alan Turing"]
    assert description["License"] == "CC-BY-4.0"
    with pytest.raises(DatasetError, match="author's name is empty"):
        dataset.describe(authors=[" "])


def test_listing_runs_and_summary(tmp_path, recording):
    dataset = Dataset.create(tmp_path / "ds")
    for _ in range(2):
        dataset.add_recording(recording, "p01", "1", "eeg4students")
    dataset.add_recording(recording.copy().crop(0, 20), "p02", "1", "eeg4students")
    table = dataset.recordings()
    assert list(table["run"]) == [1, 2, 1]
    assert dataset.participants() == ["p01", "p02"]
    assert dataset.sessions("p01") == ["1"]
    assert table["n_channels"].tolist() == [4, 4, 4]
    assert table["duration_s"].iloc[2] == pytest.approx(20.0, abs=0.01)
    assert table["notes"].iloc[2].startswith("short")
    summary = dataset.summary()
    assert summary["participants"] == 2 and summary["recordings"] == 3
    assert summary["sfreqs"] == [256.0]


def test_existing_recording_needs_overwrite(tmp_path, recording):
    dataset = Dataset.create(tmp_path / "ds")
    dataset.add_recording(recording, "p01", "1", "eeg4students", 1)
    with pytest.raises(DatasetError, match="--overwrite"):
        dataset.add_recording(recording, "p01", "1", "eeg4students", 1)
    dataset.add_recording(recording, "p01", "1", "eeg4students", 1, overwrite=True)
    assert len(dataset.recordings()) == 1


@pytest.mark.parametrize("label", ["john smith", "p-01", "p_01", "", "ü1", "p01\n", "\np01"])
def test_bad_labels_are_refused(tmp_path, recording, label):
    dataset = Dataset.create(tmp_path / "ds")
    with pytest.raises(LabelError, match="not a valid BIDS label"):
        dataset.add_recording(recording, label, "1", "eeg4students")
    with pytest.raises(LabelError, match="session"):
        check_label("session", label)
    assert dataset.recordings().empty


def test_not_a_dataset(tmp_path):
    (tmp_path / "stuff").mkdir()
    (tmp_path / "stuff" / "notes.txt").write_text("hello")
    with pytest.raises(DatasetError, match="not a BIDS dataset"):
        Dataset(tmp_path / "stuff")
    with pytest.raises(DatasetError, match="not empty and not a BIDS dataset"):
        Dataset.create(tmp_path / "stuff")
    with pytest.raises(DatasetError, match="no such dataset folder"):
        Dataset(tmp_path / "missing")
    # A package given where a dataset belongs is named as one, with what to do with it.
    import zipfile

    with zipfile.ZipFile(tmp_path / "p.zip", "w") as archive:
        archive.writestr("manifest.json", "{}")
    with pytest.raises(DatasetError, match="is a file, not a dataset folder; it looks like a"):
        Dataset(tmp_path / "p.zip")
    with pytest.raises(DatasetError, match="is a file, not a dataset folder; give the"):
        Dataset(tmp_path / "stuff" / "notes.txt")


def test_missing_recording_and_participant(tmp_path, recording):
    dataset = Dataset.create(tmp_path / "ds")
    dataset.add_recording(recording, "p01", "1", "eeg4students")
    with pytest.raises(DatasetError, match="no recording sub-p01 ses-9"):
        dataset.load("p01", "9", "eeg4students")
    with pytest.raises(DatasetError, match="no participant 'p07'"):
        dataset.sessions("p07")


def test_failed_write_is_rolled_back(tmp_path, recording, monkeypatch):
    root = tmp_path / "ds"
    dataset = Dataset.create(root)
    dataset.add_recording(recording, "p01", "1", "eeg4students")
    before = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}

    def broken_sidecar(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("eeg4students.store.dataset.write_sidecar_extras", broken_sidecar)
    with pytest.raises(DatasetError, match="failed and was undone: disk full"):
        dataset.add_recording(recording, "p01", "2", "eeg4students")
    with pytest.raises(DatasetError, match="failed and was undone"):
        dataset.add_recording(recording, "p02", "1", "eeg4students")
    monkeypatch.undo()

    def broken_sessions(self, participant):
        (self.root / f"sub-{participant}" / f"sub-{participant}_sessions.tsv").write_text("x")
        raise OSError("disk full")

    # The last step of a second run into an existing session: mne-bids has
    # rewritten that session's scans table and the shared files by then.
    monkeypatch.setattr(Dataset, "refresh_sessions_tsv", broken_sessions)
    with pytest.raises(DatasetError, match="failed and was undone: disk full"):
        dataset.add_recording(recording, "p01", "1", "eeg4students")
    after = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    assert after == before


def test_rolling_back_saves_only_what_a_write_can_change(tmp_path, recording, monkeypatch):
    dataset = Dataset.create(tmp_path / "ds")
    for session in ("1", "2", "3"):
        dataset.add_recording(recording, "p01", session, "eeg4students")
    saved = []
    copy2 = shutil.copy2

    def counting(source, *args, **kwargs):
        saved.append(Path(source).relative_to(dataset.root).as_posix())
        return copy2(source, *args, **kwargs)

    monkeypatch.setattr(shutil, "copy2", counting)
    dataset.add_recording(recording, "p01", "4", "eeg4students")
    assert "sub-p01/sub-p01_sessions.tsv" in saved and "participants.tsv" in saved
    assert [p for p in saved if p.startswith(("sub-p01/ses-1", "sub-p01/ses-2"))] == []


def test_files_that_are_not_recordings_of_their_folder_are_ignored(tmp_path, recording):
    dataset = Dataset.create(tmp_path / "ds")
    ref = dataset.add_recording(recording, "p01", "1", "eeg4students")
    eeg = ref.path.parent
    (eeg / "notes_eeg.vhdr").write_text("not a recording")
    (eeg / "sub-p02_ses-1_task-x_run-1_eeg.vhdr").write_text("another participant's name")
    other_session = tmp_path / "ds" / "sub-p01" / "ses-2" / "eeg"
    other_session.mkdir(parents=True)
    (other_session / "sub-p01_ses-1_task-x_eeg.vhdr").write_text("wrong session folder")
    assert [(r.participant, r.session, r.task) for r in dataset.references()] == [
        ("p01", "1", "eeg4students")
    ]
    assert len(dataset.recordings()) == 1


def test_truncated_data_file_is_named(tmp_path, recording):
    dataset = Dataset.create(tmp_path / "ds")
    ref = dataset.add_recording(recording, "p01", "1", "eeg4students")
    data = ref.path.with_suffix(".eeg")
    data.write_bytes(data.read_bytes()[: data.stat().st_size // 2])
    with pytest.raises(DatasetError, match="truncated or replaced"):
        dataset.load("p01", "1", "eeg4students")


def test_info_flags_interrupted_and_incomplete_recordings(tmp_path, recording, capsys):
    from eeg4students.cli import main

    dataset = Dataset.create(tmp_path / "ds")
    dataset.add_recording(recording, "p01", "1", "eeg4students")
    dataset.add_recording(
        recording, "p01", "2", "eeg4students", extra={"interruption": "Ctrl-C in task Count"}
    )
    third = dataset.add_recording(recording, "p02", "1", "eeg4students")
    third.path.with_suffix(".eeg").unlink()
    table = dataset.recordings().set_index(["participant", "session"])
    notes = table["notes"]
    assert "interrupted" not in notes[("p01", "1")] and "INCOMPLETE" not in notes[("p01", "1")]
    assert notes[("p01", "2")].startswith("interrupted (Ctrl-C in task Count)")
    assert notes[("p02", "1")].startswith("INCOMPLETE: missing _eeg.eeg")
    assert main(["dataset", "info", str(dataset.root)]) == 0
    out = " ".join(capsys.readouterr().out.split())  # table cells wrap onto more lines
    assert "interrupted (Ctrl-C in task Count)" in out and "INCOMPLETE: missing _eeg.eeg" in out


def test_write_path_tables_read_without_pandas(tmp_path, recording):
    """The csv-module reads on the write path agree with pandas and name damage."""
    root = tmp_path / "ds"
    dataset = Dataset.create(root)
    dataset.add_recording(recording, "p01", "1", "eeg4students", attributes={"age": "15"})
    dataset.add_recording(recording, "p01", "1", "eeg4students")  # run 2 keeps the age
    people = pd.read_csv(root / "participants.tsv", sep="\t", dtype=str)
    assert people.set_index("participant_id").loc["sub-p01", "age"] == "15"
    scans = pd.read_csv(next(root.glob("sub-p01/ses-1/*_scans.tsv")), sep="\t", dtype=str)
    sessions = (root / "sub-p01" / "sub-p01_sessions.tsv").read_text().splitlines()
    assert sessions == ["session_id\tacq_time", f"ses-1\t{min(scans['acq_time'])}"]
    table = root / "participants.tsv"
    table.write_text(table.read_text().replace("\n", "\textra\n", 1).rstrip("\n") + "\tx\ty\n")
    before = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    with pytest.raises(DatasetError, match=r"participants\.tsv is damaged"):
        dataset.add_recording(recording, "p01", "2", "eeg4students")
    assert {p: p.read_bytes() for p in root.rglob("*") if p.is_file()} == before


def test_a_damaged_toolkit_file_is_named(tmp_path, recording):
    dataset = Dataset.create(tmp_path / "ds")
    ref = dataset.add_recording(recording, "p01", "1", "eeg4students")
    meta = ref.path.with_name(ref.path.name.replace("_eeg.vhdr", "_eeg4students.json"))
    meta.write_text('{"n_gaps": "many"}')
    with pytest.raises(DatasetError, match=r"_eeg4students\.json is damaged"):
        dataset.recordings()
    meta.write_text("{")
    with pytest.raises(DatasetError, match=r"_eeg4students\.json is damaged"):
        dataset.recordings()
    with pytest.raises(DatasetError, match=r"_eeg4students\.json is damaged"):
        dataset.load("p01", "1", "eeg4students")


def test_tidied_at_end_writes_the_tables_once_with_the_same_result(
    tmp_path, recording, monkeypatch
):
    def write(dataset):
        dataset.add_recording(recording, "p01", "1", "eeg4students")
        dataset.add_recording(recording, "p01", "2", "eeg4students")
        dataset.add_recording(recording, "p02", "1", "eeg4students")

    each = Dataset.create(tmp_path / "each")
    write(each)
    calls = []
    for name in ("refresh_sessions_tsv", "_drop_placeholder_authors"):
        real = getattr(Dataset, name)
        monkeypatch.setattr(
            Dataset,
            name,
            lambda self, *a, _real=real, _name=name: calls.append(_name) or _real(self, *a),
        )
    once = Dataset.create(tmp_path / "once")
    calls.clear()
    with once.tidied_at_end():
        write(once)
        assert calls == []
        with pytest.raises(RuntimeError, match="do not nest"), once.tidied_at_end():
            pass
    assert sorted(calls) == ["_drop_placeholder_authors", *["refresh_sessions_tsv"] * 2]

    def tree(root):
        return {
            str(p.relative_to(root)): p.read_bytes()
            for p in root.rglob("*")
            if p.is_file() and p.name != ".eeg4students.lock"
        }

    assert tree(once.root) == tree(each.root)
    # Outside the block, every recording tidies again.
    once.add_recording(recording, "p02", "2", "eeg4students")
    assert calls[-2:] == ["_drop_placeholder_authors", "refresh_sessions_tsv"]
