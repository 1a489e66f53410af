"""Changes to a dataset that are kept all together or undone all together.

One mechanism serves every command that writes into a dataset (storing a
recording, moving a participant in from a parallel import or a remote
package, importing several files, computing feature caches, forgetting):

- **protect** files and folders before they change: on failure, files added
  are removed, files replaced or removed come back, folders made are
  removed. ``"link"`` snapshots hard-link every file (no data is copied: the
  toolkit replaces files by renaming, so a link keeps the old content; on a
  disk without hard links, such as a FAT stick, files are copied);
  ``"copy"`` copies the bytes, for files that other code (mne-bids) rewrites
  in place; ``"added"`` only remembers which files a folder holds, so that
  what the block adds is removed and nothing else is touched (a session
  folder whose other recordings do not change);
- **move** staged content in, or a participant's files out, by renames on
  the same disk, each undone by renaming back;
- **stage** into folders made inside the dataset, removed at the end either
  way.

Snapshots live in ``DATASET/.eeg4students-undo/``; one left by a killed
process is removed the next time the dataset's lock is taken
(:func:`dataset_lock`). A forgetting, which must finish rather than undo once
it has begun (its journal resumes it), moves files out with the same
:func:`move_out` and keeps its own journal.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path

from eeg4students._compat import mne_bids_quick_writes as quick_writes
from eeg4students._files import locked, new_folder

#: The lock file every command that changes the dataset holds while it does.
LOCK_NAME = ".eeg4students.lock"
#: Where transactions keep their snapshots, inside the dataset they protect.
UNDO_DIR = ".eeg4students-undo"
#: How :meth:`Transaction.protect` keeps what it protects.
HOW = ("link", "copy", "added")


def clear_undo(root: Path) -> None:
    """Remove snapshots left by a killed process (call it holding the dataset's lock)."""
    shutil.rmtree(Path(root) / UNDO_DIR, ignore_errors=True)


@contextlib.contextmanager
def dataset_lock(root: Path) -> Iterator[None]:
    """The dataset's lock, under which mne-bids' own per-file locks are redundant."""
    with locked(Path(root) / LOCK_NAME, on_first=lambda: clear_undo(root)), quick_writes():
        yield


def _files_under(path: Path) -> dict[str, Path]:
    if path.is_file() or path.is_symlink():
        return {"": path}
    return {
        p.relative_to(path).as_posix(): p for p in path.rglob("*") if p.is_file() or p.is_symlink()
    }


class _Protected:
    """One protected path: its files as they were (links or copies) or only their names."""

    def __init__(self, path: Path, how: str, snapshot: Path) -> None:
        self.path, self.how = path, how
        self.existed = path.exists() or path.is_symlink()
        self.folders = {p for p in path.rglob("*") if p.is_dir()} if path.is_dir() else set()
        files = _files_under(path) if self.existed else {}
        self.names = set(files)
        self.kept: dict[str, Path] = {}
        if how == "added":
            return
        for rel, source in files.items():
            keep = snapshot / (rel or "file")
            keep.parent.mkdir(parents=True, exist_ok=True)
            if how == "link":
                try:
                    os.link(source, keep, follow_symlinks=False)
                except OSError:  # a disk without hard links (FAT, exFAT): a copy then
                    shutil.copy2(source, keep, follow_symlinks=False)
            else:
                shutil.copy2(source, keep, follow_symlinks=False)
            self.kept[rel] = keep

    def restore(self) -> None:
        path = self.path
        if not self.existed:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            elif path.exists() or path.is_symlink():
                path.unlink()
            return
        now = _files_under(path) if path.exists() else {}
        for rel, current in now.items():
            if rel not in self.names:
                current.unlink()
            elif rel in self.kept and not os.path.samefile(self.kept[rel], current):
                os.replace(self.kept[rel], current)
        for rel, keep in self.kept.items():
            if rel not in now:
                target = path / rel if rel else path
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(keep, target)
        if path.is_dir():
            for folder in sorted(path.rglob("*"), key=lambda p: -len(p.parts)):
                if folder.is_dir() and folder not in self.folders and not any(folder.iterdir()):
                    folder.rmdir()


class Transaction:
    """File changes under a dataset's folder, all kept or all undone (a context manager).

    Parameters
    ----------
    root : Path
        The dataset: snapshots and staging folders live inside it (on the same
        disk, so that renames are atomic).

    Examples
    --------
    ::

        with dataset.lock(), Transaction(dataset.root) as change:
            change.protect(dataset.root / "participants.tsv", how="copy")
            change.move(staged / "sub-p01", dataset.root / "sub-p01")
            add_participant_row(dataset.root, row)   # undone too if this fails
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._snapshot: Path | None = None
        self._protected: list[_Protected] = []
        self._moves: list[tuple[Path, Path]] = []
        self._staging: list[Path] = []
        self._made: list[Path] = []

    def __enter__(self) -> Transaction:
        return self

    def __exit__(self, kind, error, traceback) -> None:
        try:
            if kind is not None:
                self.undo()
        finally:
            self._clean()

    def protect(self, *paths: Path, how: str = "link") -> None:
        """Keep ``paths`` (files or folders, existing or not) as they are now, for an undo.

        Parameters
        ----------
        *paths : Path
            What the block may change. A path that does not exist yet is
            removed by an undo.
        how : {"link", "copy", "added"}
            See the module docstring.
        """
        if how not in HOW:
            raise ValueError(f"how must be one of {HOW}, not {how!r}")
        if self._snapshot is None:
            self._snapshot = new_folder(self.root / UNDO_DIR, "")
        for path in paths:
            path = Path(path)
            # Folders above the path that the block may create (derivatives/ of a new cache).
            self._made += [
                parent
                for parent in path.parents
                if parent.is_relative_to(self.root) and parent != self.root and not parent.exists()
            ]
            keep = self._snapshot / str(len(self._protected))
            self._protected.append(_Protected(path, how, keep))

    def move(self, source: Path, target: Path) -> None:
        """Rename ``source`` to ``target`` (same disk); an undo renames it back."""
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        os.rename(source, target)
        self._moves.append((Path(source), Path(target)))

    def stage(self, prefix: str) -> Path:
        """A new folder inside the dataset for content to move in; removed at the end."""
        folder = new_folder(self.root, prefix)
        self._staging.append(folder)
        return folder

    def undo(self) -> None:
        """Put everything back as it was when it was protected or moved."""
        for source, target in reversed(self._moves):
            if target.exists() and not source.exists():
                os.rename(target, source)
        self._moves.clear()
        for protected in reversed(self._protected):
            protected.restore()
        for folder in sorted(set(self._made), key=lambda p: -len(p.parts)):
            with contextlib.suppress(OSError):  # not empty: something else was put there
                folder.rmdir()

    def _clean(self) -> None:
        for folder in self._staging:
            shutil.rmtree(folder, ignore_errors=True)
        if self._snapshot is not None:
            shutil.rmtree(self._snapshot, ignore_errors=True)
            with contextlib.suppress(OSError):
                (self.root / UNDO_DIR).rmdir()


@contextlib.contextmanager
def undone_on_failure(root: Path, *targets: Path) -> Iterator[None]:
    """Leave ``targets`` (folders or files under ``root``) as they were if the block fails.

    A :class:`Transaction` protecting them with hard-link snapshots.
    """
    with Transaction(root) as change:
        change.protect(*targets)
        yield


def move_out(root: Path, paths: Iterable[Path], staging: Path) -> None:
    """Move each of ``paths`` (under ``root``) to the same place under ``staging``, by renames."""
    for source in paths:
        target = Path(staging) / Path(source).relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(source, target)
