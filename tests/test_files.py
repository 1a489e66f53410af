"""File utilities: permissions that follow the umask, a lock across processes."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap

import pytest

from eeg4students._files import (
    atomic_path,
    atomic_write_json,
    atomic_write_text,
    locked,
    new_folder,
    removed_on_failure,
)
from eeg4students.simulate import simulate_to_dataset
from eeg4students.training import train_model


@pytest.fixture
def umask():
    """Set a umask for the test, restoring the previous one."""
    previous = os.umask(0o022)
    os.umask(previous)

    def set_to(value: int) -> None:
        os.umask(value)

    yield set_to
    os.umask(previous)


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize(
    ("mask", "file_mode", "dir_mode"),
    [(0o022, 0o644, 0o755), (0o002, 0o664, 0o775), (0o077, 0o600, 0o700)],
)
def test_files_and_folders_follow_the_umask(tmp_path, umask, mask, file_mode, dir_mode):
    umask(mask)
    atomic_write_text(tmp_path / "a.txt", "hello")
    with atomic_path(tmp_path / "b.bin") as tmp:
        tmp.write_bytes(b"x")
    folder = new_folder(tmp_path, ".stage-")
    assert _mode(tmp_path / "a.txt") == file_mode
    assert _mode(tmp_path / "b.bin") == file_mode
    assert _mode(folder) == dir_mode
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == ["a.txt", "b.bin"]


@pytest.mark.parametrize("mask", [0o022, 0o002, 0o000])
def test_a_private_write_is_readable_by_its_user_only_whatever_the_umask(tmp_path, umask, mask):
    umask(mask)
    atomic_write_json(tmp_path / "links.json", {"s01": "http://x/?token=KEY"}, private=True)
    assert _mode(tmp_path / "links.json") == 0o600


def test_dataset_files_are_readable_by_the_group_and_others(tmp_path, umask):
    umask(0o022)
    root = tmp_path / "ds"
    simulate_to_dataset(root, 2, 1, seed=0, task_seconds=6, progress=False)
    train_model(root, "lda", "m", progress=False)
    modes = {p.relative_to(root).as_posix(): _mode(p) for p in root.rglob("*") if p.is_file()}
    assert modes and all(m == 0o644 for name, m in modes.items() if "lock" not in name), modes


def test_failed_atomic_write_leaves_the_old_file(tmp_path):
    target = tmp_path / "card.json"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["card.json"]


def test_removed_on_failure_removes_only_what_it_created(tmp_path):
    new = tmp_path / "a" / "b" / "ds"
    with pytest.raises(ValueError), removed_on_failure(new):
        new.mkdir(parents=True)
        (new / "x").write_text("x")
        raise ValueError
    assert not (tmp_path / "a").exists()
    kept = tmp_path / "kept"
    kept.mkdir()
    (kept / "mine").write_text("mine")
    with pytest.raises(ValueError), removed_on_failure(kept):
        (kept / "new").write_text("new")
        raise ValueError
    assert sorted(p.name for p in kept.iterdir()) == ["mine", "new"]


def test_lock_excludes_another_process_and_is_reentrant(tmp_path):
    lock = tmp_path / ".eeg4students.lock"
    probe = textwrap.dedent(
        f"""
        from filelock import FileLock, Timeout
        try:
            FileLock({str(lock)!r}).acquire(timeout=0.2)
        except Timeout:
            print("held")
        else:
            print("free")
        """
    )

    def other_process_sees() -> str:
        run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
        return run.stdout.strip()

    with locked(lock):
        with locked(lock):  # reentrant: a command calling another under the lock
            assert other_process_sees() == "held"
        assert other_process_sees() == "held"
    assert other_process_sees() == "free"


def test_the_lock_excludes_other_threads_of_the_process(tmp_path):
    import threading

    path = tmp_path / "ds" / ".eeg4students.lock"
    held, release, entered = threading.Event(), threading.Event(), threading.Event()

    def holder():
        with locked(path), locked(path):  # the holder may take it again
            held.set()
            release.wait(60)

    def other():
        with locked(path):
            entered.set()

    first = threading.Thread(target=holder)
    first.start()
    assert held.wait(60)
    second = threading.Thread(target=other)
    second.start()
    second.join(timeout=1.0)  # a bounded look: it must still be waiting
    assert second.is_alive() and not entered.is_set()
    release.set()
    first.join(60)
    assert entered.wait(60)
    second.join(60)


def test_undone_on_failure_puts_every_file_back(tmp_path):
    from eeg4students._files import atomic_write_text
    from eeg4students.store.transaction import UNDO_DIR, undone_on_failure

    root = tmp_path / "ds"
    cache = root / "derivatives" / "cache"
    (cache / "sub").mkdir(parents=True)
    (cache / "kept.txt").write_text("kept")
    (cache / "replaced.txt").write_text("old")
    (cache / "removed.txt").write_text("removed")
    (cache / "sub" / "deep.txt").write_text("deep")
    before = {p.relative_to(root): p.read_bytes() for p in root.rglob("*") if p.is_file()}
    with pytest.raises(RuntimeError), undone_on_failure(root, cache, root / "new.json"):
        atomic_write_text(cache / "replaced.txt", "new")
        (cache / "removed.txt").unlink()
        (cache / "added" / "more").mkdir(parents=True)
        (cache / "added" / "more" / "x.txt").write_text("x")
        (root / "new.json").write_text("{}")
        raise RuntimeError("refused")
    after = {p.relative_to(root): p.read_bytes() for p in root.rglob("*") if p.is_file()}
    assert after == before
    assert not (cache / "added").exists() and not (root / UNDO_DIR).exists()
    # A block that succeeds keeps its changes; the snapshot goes either way.
    with undone_on_failure(root, cache):
        atomic_write_text(cache / "replaced.txt", "new")
    assert (cache / "replaced.txt").read_text() == "new" and not (root / UNDO_DIR).exists()


def test_undo_works_on_a_disk_without_hard_links(tmp_path, monkeypatch):
    from eeg4students import _files
    from eeg4students.store import transaction

    def no_links(*args, **kwargs):
        raise PermissionError(1, "Operation not permitted")  # as FAT and exFAT answer

    monkeypatch.setattr(transaction.os, "link", no_links)
    root = tmp_path / "ds"
    (root / "cache").mkdir(parents=True)
    (root / "cache" / "a.txt").write_text("old")
    with pytest.raises(RuntimeError), transaction.undone_on_failure(root, root / "cache"):
        _files.atomic_write_text(root / "cache" / "a.txt", "new")
        (root / "cache" / "b.txt").write_text("added")
        raise RuntimeError("refused")
    assert (root / "cache" / "a.txt").read_text() == "old"
    assert not (root / "cache" / "b.txt").exists()
