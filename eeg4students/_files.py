"""Small file utilities: atomic writes, hashes, locks, owned new folders, test hooks.

Files are created with the permissions the user's umask gives (``0o666 &
~umask``), like any other program's, so a shared lab folder or a web server
can read reports, cards and sidecars. Locks come from ``filelock``, which
works on Linux, macOS and Windows.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import secrets
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

log = logging.getLogger("eeg4students")

#: Seconds to wait quietly for a lock before saying that another command holds it.
LOCK_PATIENCE = 2.0


def _temp_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")


@contextlib.contextmanager
def atomic_path(path: Path, *, private: bool = False) -> Iterator[Path]:
    """Give a temporary path beside ``path``; rename it onto ``path`` if the block succeeds.

    Readers see the old file or the new one, never half of one. The
    temporary file is created empty with the umask's permissions (so tools
    that write to a path, such as skops or pyarrow, keep them) and is removed
    if the block fails.

    Parameters
    ----------
    path : Path
        The file to (re)place. Its folder is created if needed.
    private : bool
        Create it readable and writable by this user only (it holds keys).

    Yields
    ------
    tmp : Path
        Where to write the new content.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_name(path)
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600 if private else 0o666))
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_bytes(path: Path, data: bytes, *, private: bool = False) -> None:
    """Write ``data`` to ``path`` so readers see the old or the new file, never half.

    ``private`` makes it readable by this user only (see :func:`atomic_path`).
    """
    with atomic_path(path, private=private) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: Path, text: str, *, private: bool = False) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"), private=private)


def atomic_write_json(path: Path, obj: Any, *, private: bool = False) -> None:
    """Write ``obj`` as indented JSON, atomically."""
    atomic_write_text(path, json.dumps(obj, indent=4, ensure_ascii=False) + "\n", private=private)


def sha256(path: Path, chunk: int = 1 << 20) -> str:
    """Return the SHA-256 hex digest of a file's content."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def new_folder(parent: Path, prefix: str) -> Path:
    """Create a fresh, uniquely named folder in ``parent`` (umask permissions)."""
    parent.mkdir(parents=True, exist_ok=True)
    while True:
        folder = parent / f"{prefix}{secrets.token_hex(6)}"
        try:
            os.mkdir(folder, 0o777)
        except FileExistsError:
            continue
        return folder


class _ProcessLock:
    """One path's lock in this process: a thread at a time, re-entered by its holder.

    ``filelock`` keeps other processes out; its lock object is shared by every
    thread of the process (``thread_local=False``, so that a lock taken in one
    thread may be released by the same object elsewhere), which would let a
    second thread in while the first holds it. This re-entrant thread lock is
    taken first: only its holder reaches the file lock.
    """

    def __init__(self, path: str) -> None:
        self.threads = threading.RLock()
        self.file = FileLock(path, is_singleton=True, thread_local=False)
        self.depth = 0


_LOCKS: dict[str, _ProcessLock] = {}
_LOCKS_GUARD = threading.Lock()


def _process_lock(path: Path) -> _ProcessLock:
    key = str(Path(path).resolve())
    with _LOCKS_GUARD:
        if key not in _LOCKS:
            _LOCKS[key] = _ProcessLock(key)
        return _LOCKS[key]


@contextlib.contextmanager
def locked(lock_path: Path, on_first: Callable[[], None] | None = None) -> Iterator[None]:
    """Hold an exclusive lock on ``lock_path`` across processes and threads (reentrant).

    Several processes writing into one dataset (one recorder per headset, a
    ``forget`` beside a ``train``) take turns through this lock, and so do
    threads of one process (the classroom saves recordings from threads). The
    thread holding it may take it again. Waiting longer than
    :data:`LOCK_PATIENCE` seconds is reported once in the log.

    Parameters
    ----------
    lock_path : Path
        The lock file (created if needed).
    on_first : callable | None
        Called once the lock is taken, when this is the outermost hold (not
        when re-entered): the place to tidy what a killed holder left.
    """
    lock_path = Path(lock_path)
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    lock = _process_lock(lock_path)
    if not lock.threads.acquire(timeout=LOCK_PATIENCE):
        log.info("waiting for another thread of this command to release %s", lock_path)
        lock.threads.acquire()
    try:
        if lock.depth == 0:
            try:
                lock.file.acquire(timeout=LOCK_PATIENCE)
            except Timeout:
                log.warning("waiting for another eeg4students command to release %s", lock_path)
                lock.file.acquire()
        lock.depth += 1
        try:
            if lock.depth == 1 and on_first is not None:
                on_first()
            yield
        finally:
            lock.depth -= 1
            if lock.depth == 0:
                lock.file.release()
    finally:
        lock.threads.release()


@contextlib.contextmanager
def removed_on_failure(folder: Path) -> Iterator[None]:
    """Remove ``folder`` if the block fails and the folder did not exist (or was empty) before.

    Commands that create a dataset use it so that a refused input leaves no
    empty dataset skeleton behind.
    """
    folder = Path(folder).absolute()
    if folder.exists():
        top = None
        empty = folder.is_dir() and not any(folder.iterdir())
    else:
        # The highest missing ancestor: parents made on the way go too.
        top = folder
        while not top.parent.exists():
            top = top.parent
        empty = False
    try:
        yield
    except BaseException:
        if top is not None:
            shutil.rmtree(top, ignore_errors=True)
        elif empty:
            for child in folder.iterdir():
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child, ignore_errors=True)
                else:
                    child.unlink(missing_ok=True)
        raise


#: Test hooks at named points of long operations (``checkpoint``): the process exits
#: with status 75 at the point named by ``EEG4STUDENTS_CRASH_AT``, or waits at the
#: point named by ``EEG4STUDENTS_PAUSE_AT=NAME:FILE`` (it creates ``FILE.reached``,
#: then waits until ``FILE`` exists). Crash-resume and concurrency tests use them.
CRASH_ENV = "EEG4STUDENTS_CRASH_AT"
PAUSE_ENV = "EEG4STUDENTS_PAUSE_AT"


def checkpoint(name: str) -> None:
    """A named point where tests may stop or pause the process (see :data:`CRASH_ENV`)."""
    if os.environ.get(CRASH_ENV) == name:
        os._exit(75)
    point, _, release = os.environ.get(PAUSE_ENV, "").partition(":")
    if point == name and release:
        Path(release + ".reached").touch()
        while not Path(release).exists():
            time.sleep(0.05)
