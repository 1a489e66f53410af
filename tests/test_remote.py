"""Remote sessions: package a participant, ingest the package elsewhere."""

from __future__ import annotations

import zipfile

import pytest

from eeg4students.cli import main
from eeg4students.remote import PackageError, ingest, package_participant
from eeg4students.simulate import simulate_recording, simulate_to_dataset
from eeg4students.store import Dataset


@pytest.fixture
def home(tmp_path):
    root = tmp_path / "home"
    simulate_to_dataset(root, 2, 2, seed=1, task_seconds=3, progress=False)
    return Dataset(root)


def _files(root, participant):
    folder = root / f"sub-{participant}"
    return {p.relative_to(root): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def _tree(root):
    return {p.relative_to(root): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_package_and_ingest_round_trip(home, tmp_path, capsys):
    zipped = tmp_path / "sim02.zip"
    assert main(["package", str(home.root), "--participant", "sim02", "--out", str(zipped)]) == 0
    lab = tmp_path / "lab"
    assert main(["ingest", str(zipped), "--to", str(lab)]) == 0
    assert "checksums verified" in capsys.readouterr().out
    assert _files(lab, "sim02") == _files(home.root, "sim02")
    assert Dataset(lab).participants() == ["sim02"]
    assert Dataset(lab).load("sim02", "2", "eeg4students").n_times > 0
    # The same label again is refused, and merging needs new sessions.
    with pytest.raises(PackageError, match="--merge"):
        ingest(zipped, lab)
    with pytest.raises(PackageError, match="already has sim02's ses-1"):
        ingest(zipped, lab, merge=True)


def test_merge_adds_new_sessions(home, tmp_path):
    lab = tmp_path / "lab"
    ingest(package_participant(home, "sim01", tmp_path / "a.zip"), lab)
    other = Dataset.create(tmp_path / "other")
    other.add_recording(
        simulate_recording(0, 3, seed=1, task_seconds=3), "sim01", "3", "eeg4students"
    )
    participant, added = ingest(
        package_participant(other, "sim01", tmp_path / "b.zip"), lab, merge=True
    )
    assert participant == "sim01"
    assert added and all(name.startswith("sub-sim01/ses-3/") for name in added)
    assert Dataset(lab).sessions("sim01") == ["1", "2", "3"]
    sessions = (lab / "sub-sim01" / "sub-sim01_sessions.tsv").read_text()
    assert "ses-3" in sessions


def _rewrite(source, target, change):
    with zipfile.ZipFile(source) as a, zipfile.ZipFile(target, "w") as b:
        for item in a.infolist():
            data = a.read(item.filename)
            b.writestr(item, change(item.filename, data))


@pytest.mark.parametrize("damage", ["tampered", "truncated", "extra file", "bad manifest"])
def test_damaged_packages_leave_the_dataset_unchanged(home, tmp_path, damage):
    good = package_participant(home, "sim01", tmp_path / "good.zip")
    lab = tmp_path / "lab"
    ingest(package_participant(home, "sim02", tmp_path / "other.zip"), lab)
    before = _tree(lab)
    bad = tmp_path / "bad.zip"
    if damage == "tampered":
        _rewrite(
            good, bad, lambda name, data: data[:-1] + b"x" if name.endswith("_eeg.eeg") else data
        )
        message = "does not match its checksum"
    elif damage == "truncated":
        bad.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
        message = "not a readable zip"
    elif damage == "extra file":
        _rewrite(good, bad, lambda name, data: data)
        with zipfile.ZipFile(bad, "a") as archive:
            archive.writestr("sub-sim01/ses-1/eeg/extra.txt", b"hello")
        message = "manifest does not match"
    else:
        _rewrite(good, bad, lambda name, data: b"{" if name == "manifest.json" else data)
        message = "manifest is missing or unreadable"
    with pytest.raises(PackageError, match=message):
        ingest(bad, lab)
    assert _tree(lab) == before
