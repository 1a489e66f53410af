"""mne-bids without two per-recording costs that add nothing to the toolkit's writes.

Besides writing its files, ``mne_bids.write_raw_bids`` spends nearly half
of its time per recording on two things (``benchmarks/bench_import.py``
times importing with and without this module):

- **a lock file for every file it touches** (``filelock.SoftFileLock``:
  about ten created and removed per recording, each about a millisecond on a
  typical disk), against other processes writing into the same dataset.
  Every write of the toolkit already holds the dataset's lock
  (:meth:`eeg4students.store.Dataset.lock`), which enters :func:`quick_writes`:
  while it is held, mne-bids takes none in that thread;
- **reading the 10-05 montage from its file** to fill the sidecar's
  ``EEGPlacementScheme`` (about 9 ms), an answer that depends only on the
  channels' names and types: it is kept per channel set.

Both wrap private functions of mne-bids (``mne_bids._fileio._get_lock_context``
and ``mne_bids.write._infer_eeg_placement_scheme``), so the dataset's lock
uses them only on the mne-bids versions they were tested with
(:func:`eeg4students._compat.mne_bids_quick_writes`). A version of mne-bids
without them (or with another signature) is left as it is too: writes are
then only slower. The files written are the same byte for byte either way
(``tests/test_mne_bids_quick.py``).
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import threading
from collections.abc import Iterator
from types import ModuleType

#: Attribute marking the toolkit's wrappers, so that installing twice wraps once
#: (each wrapper's ``__wrapped__`` is mne-bids' own function).
_MARK = "_eeg4students_quick"
#: Channel sets whose placement scheme is kept (a dataset rarely has more than a few).
PLACEMENT_CACHE_SIZE = 64

_state = threading.local()
_install_lock = threading.Lock()


def _lock_held() -> bool:
    return getattr(_state, "depth", 0) > 0


def _wrap_locks(fileio: ModuleType) -> bool:
    original = getattr(fileio, "_get_lock_context", None)
    if not callable(original) or getattr(original, _MARK, False):
        return False
    try:
        lock = inspect.signature(original).parameters.get("lock")
    except (TypeError, ValueError):
        return False
    if lock is None or lock.kind is not inspect.Parameter.KEYWORD_ONLY:
        return False

    def _get_lock_context(path, *args, lock=True, **kwargs):
        # The original walks the stack for its debug log; returning its context
        # manager (rather than entering it here) keeps that walk unchanged.
        return original(path, *args, lock=lock and not _lock_held(), **kwargs)

    setattr(_get_lock_context, _MARK, True)
    _get_lock_context.__wrapped__ = original
    fileio._get_lock_context = _get_lock_context
    return True


def _wrap_placement(write: ModuleType) -> bool:
    original = getattr(write, "_infer_eeg_placement_scheme", None)
    if not callable(original) or getattr(original, _MARK, False):
        return False
    known: dict[tuple, str] = {}

    def _infer_eeg_placement_scheme(raw):
        key = tuple(zip(raw.ch_names, raw.get_channel_types(), strict=True))
        if key not in known:
            if len(known) >= PLACEMENT_CACHE_SIZE:
                known.clear()
            known[key] = original(raw)
        return known[key]

    setattr(_infer_eeg_placement_scheme, _MARK, True)
    _infer_eeg_placement_scheme.__wrapped__ = original
    write._infer_eeg_placement_scheme = _infer_eeg_placement_scheme
    return True


def install(fileio: ModuleType | None = None, write: ModuleType | None = None) -> list[str]:
    """Wrap mne-bids' per-file locking and placement-scheme inference (once).

    Parameters
    ----------
    fileio, write : module | None
        The modules to wrap; None for ``mne_bids._fileio`` and
        ``mne_bids.write``.

    Returns
    -------
    wrapped : list of str
        What this call wrapped (``"locks"``, ``"placement"``): empty when
        already done or when mne-bids has no such functions.
    """
    with _install_lock:
        if fileio is None:
            fileio = _module("mne_bids._fileio")
        if write is None:
            write = _module("mne_bids.write")
        wrapped = []
        if fileio is not None and _wrap_locks(fileio):
            wrapped.append("locks")
        if write is not None and _wrap_placement(write):
            wrapped.append("placement")
        return wrapped


def _module(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


@contextlib.contextmanager
def quick_writes() -> Iterator[None]:
    """Write through mne-bids without its per-file locks, in this thread, in this block.

    Only for callers holding the dataset's lock: it is what keeps other
    writers out meanwhile. Other threads keep mne-bids' locks.
    """
    install()
    _state.depth = getattr(_state, "depth", 0) + 1
    try:
        yield
    finally:
        _state.depth -= 1
