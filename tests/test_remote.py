"""Remote sessions: package a participant, ingest the package elsewhere."""

from __future__ import annotations

import errno
import io
import os
import shutil
import zipfile
from pathlib import Path

import pytest

from eeg4students.cli import main
from eeg4students.errors import EEG4StudentsError
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
    return {
        p.relative_to(root): p.read_bytes()
        for p in root.rglob("*")
        if p.is_file() and p.name != ".eeg4students.lock"
    }


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


class _Faults:
    """Fail the k-th write-like file operation (rename, replace, mkdir, create, open to write)."""

    def __init__(self, monkeypatch, fail_at: int | None) -> None:
        self.calls, self.fail_at = 0, fail_at
        for module, name in ((os, "rename"), (os, "replace"), (os, "mkdir"), (os, "open")):
            monkeypatch.setattr(module, name, self._wrap(getattr(module, name), name))
        monkeypatch.setattr(io, "open", self._wrap(io.open, "io.open"))

    def _writes(self, name, args, kwargs) -> bool:
        if name == "os.open" or name == "open":
            return bool(args[1] & (os.O_WRONLY | os.O_RDWR | os.O_CREAT))
        if name == "io.open":
            mode = args[1] if len(args) > 1 else kwargs.get("mode", "r")
            return any(c in mode for c in "wax+")
        return True

    def _wrap(self, function, name):
        def faulty(*args, **kwargs):
            if self._writes(name, args, kwargs):
                self.calls += 1
                if self.calls == self.fail_at:
                    raise OSError(errno.ENOSPC, "No space left on device (injected)")
            return function(*args, **kwargs)

        return faulty


@pytest.mark.parametrize("target", ["new", "existing", "merge"])
def test_a_fault_at_any_step_leaves_the_dataset_as_it_was(home, tmp_path, monkeypatch, target):
    package = package_participant(home, "sim02", tmp_path / "p.zip")
    template = tmp_path / "template"
    if target != "new":
        ingest(package_participant(home, "sim01", tmp_path / "a.zip"), template)
    if target == "merge":
        other = Dataset.create(tmp_path / "other")
        other.add_recording(
            simulate_recording(1, 3, seed=1, task_seconds=3), "sim02", "3", "eeg4students"
        )
        ingest(package_participant(home, "sim02", tmp_path / "b.zip"), template)
        package = package_participant(other, "sim02", tmp_path / "p.zip")

    def fresh() -> Path:
        root = tmp_path / "lab"
        shutil.rmtree(root, ignore_errors=True)
        if template.exists():
            shutil.copytree(template, root)
        return root

    root = fresh()
    with monkeypatch.context() as patch:
        counter = _Faults(patch, None)
        ingest(package, root, merge=target == "merge")
    done, n_writes = _tree(root), counter.calls
    assert n_writes > 5
    failures = 0
    for k in range(1, n_writes + 1):
        root = fresh()
        before = _tree(root) if root.exists() else None
        with monkeypatch.context() as patch:
            _Faults(patch, k)
            try:
                ingest(package, root, merge=target == "merge")
            except (OSError, EEG4StudentsError):
                failures += 1
            else:
                # Some writes may fail harmlessly (a folder that exists, an optional lock).
                assert _tree(root) == done, f"fault at write {k}: a different dataset"
                continue
        if before is None:
            assert not root.exists(), f"fault at write {k} left a new dataset behind"
        else:
            assert _tree(root) == before, f"fault at write {k} changed the dataset"
            assert not list(root.glob(".ingest-*")), f"fault at write {k} left staging behind"
    assert failures >= 5
