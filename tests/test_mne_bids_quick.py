"""Writing through mne-bids without its per-file locks and repeated montage reads."""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path
from types import SimpleNamespace

import filelock
import mne
import mne_bids
import mne_bids._fileio
import mne_bids.write
import pytest

import eeg4students.store.transaction
from eeg4students._compat import MNE_BIDS_TESTED, is_tested
from eeg4students._mne_bids_quick import install, quick_writes
from eeg4students.simulate import simulate_recording
from eeg4students.store import Dataset

# The wrappers are used only on the mne-bids versions they were tested with.
pytestmark = pytest.mark.skipif(
    not is_tested("mne-bids", MNE_BIDS_TESTED),
    reason=f"mne-bids {mne_bids.__version__} is not a version the quick writes were tested with",
)


@pytest.fixture(scope="module")
def recording():
    return simulate_recording(0, 1, seed=5, task_seconds=5)


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _count_lock_acquisitions(monkeypatch) -> list[str]:
    taken: list[str] = []
    acquire = filelock.SoftFileLock.acquire

    def counting(self, *args, **kwargs):
        taken.append(self.lock_file)
        return acquire(self, *args, **kwargs)

    monkeypatch.setattr(filelock.SoftFileLock, "acquire", counting)
    return taken


def test_files_are_the_same_as_mne_bids_own(tmp_path, recording, monkeypatch):
    quick = Dataset.create(tmp_path / "quick")
    quick.add_recording(recording, "p01", "1", "eeg4students")
    quick.add_recording(recording, "p01", "2", "eeg4students")
    assert mne_bids.write._infer_eeg_placement_scheme.__wrapped__ is not None
    # The same writes with mne-bids' own functions, never wrapped.
    for module, name in (
        (mne_bids._fileio, "_get_lock_context"),
        (mne_bids.write, "_infer_eeg_placement_scheme"),
    ):
        monkeypatch.setattr(module, name, getattr(module, name).__wrapped__)
    monkeypatch.setattr(eeg4students.store.transaction, "quick_writes", contextlib.nullcontext)
    plain = Dataset.create(tmp_path / "plain")
    plain.add_recording(recording, "p01", "1", "eeg4students")
    plain.add_recording(recording, "p01", "2", "eeg4students")
    quick_files, plain_files = _files(quick.root), _files(plain.root)
    assert sorted(quick_files) == sorted(plain_files)
    assert len(quick_files) > 10
    different = [name for name in quick_files if quick_files[name] != plain_files[name]]
    assert different == []
    sidecar = next(n for n in quick_files if n.endswith("run-1_eeg.json"))
    assert b"based on the extended 10/20 system" in quick_files[sidecar]


def test_no_lock_files_under_the_dataset_lock(tmp_path, recording, monkeypatch):
    taken = _count_lock_acquisitions(monkeypatch)
    dataset = Dataset.create(tmp_path / "ds")
    dataset.add_recording(recording, "p01", "1", "eeg4students")
    assert taken == []
    # mne-bids called directly (no dataset lock held) still locks its files.
    path = mne_bids.BIDSPath(
        subject="p02", session="1", task="x", datatype="eeg", root=tmp_path / "ds"
    )
    mne_bids.write_raw_bids(
        recording, path, format="BrainVision", allow_preload=True, verbose="error"
    )
    assert len(taken) >= 5
    # SoftFileLock removes its files; only the dataset's own lock file stays.
    assert [p.name for p in (tmp_path / "ds").rglob("*.lock")] == [".eeg4students.lock"]


def test_only_the_writing_thread_skips_the_locks(monkeypatch):
    asked: list[bool] = []

    def lock_context(path, *, timeout=None, lock=True):
        asked.append(lock)
        return contextlib.nullcontext()

    fileio = SimpleNamespace(_get_lock_context=lock_context)
    assert install(fileio=fileio, write=SimpleNamespace()) == ["locks"]
    fileio._get_lock_context("a")
    with quick_writes():
        fileio._get_lock_context("b")
        fileio._get_lock_context("c", lock=False)
        other = threading.Thread(target=fileio._get_lock_context, args=("d",))
        other.start()
        other.join()
        with quick_writes():
            fileio._get_lock_context("e")
        fileio._get_lock_context("f")
    fileio._get_lock_context("g")
    assert asked == [True, False, False, True, False, False, True]


def test_placement_scheme_is_worked_out_once_per_channel_set():
    calls: list[list[str]] = []

    def infer(raw):
        calls.append(raw.ch_names)
        return "n/a" if raw.ch_names[0].startswith("EXG") else "10-20"

    write = SimpleNamespace(_infer_eeg_placement_scheme=infer)
    assert install(fileio=SimpleNamespace(), write=write) == ["placement"]
    assert install(fileio=SimpleNamespace(), write=write) == []  # wrapped once

    def raw(names, kind="eeg"):
        info = mne.create_info(names, 256.0, kind)
        return mne.io.RawArray([[0.0] * 10] * len(names), info, verbose="error")

    scheme = write._infer_eeg_placement_scheme
    assert scheme(raw(["Fp1", "Fp2"])) == "10-20"
    assert scheme(raw(["Fp1", "Fp2"])) == "10-20"
    assert scheme(raw(["EXG1", "EXG2"])) == "n/a"
    scheme(raw(["Fp1", "Fp2"], "misc"))  # same names, other types: worked out again
    assert calls == [["Fp1", "Fp2"], ["EXG1", "EXG2"], ["Fp1", "Fp2"]]


def test_other_mne_bids_versions_are_left_alone():
    def no_lock_option(path, *, timeout=None):
        return contextlib.nullcontext()

    def positional_lock(path, timeout=None, lock=True):
        return contextlib.nullcontext()

    for function in (no_lock_option, positional_lock):
        fileio = SimpleNamespace(_get_lock_context=function)
        assert install(fileio=fileio, write=SimpleNamespace()) == []
        assert fileio._get_lock_context is function
    assert install(fileio=SimpleNamespace(), write=SimpleNamespace(other=len)) == []
