"""Remote sessions: one verifiable package per participant, and ingesting it.

A package is a zip file holding the participant's BIDS folder
(``sub-P/...``) and ``manifest.json``: the participant label, their
``participants.tsv`` row, the toolkit version, and the SHA-256 of every
file. :func:`ingest` checks everything before it touches the dataset: the
zip opens, the manifest lists exactly the files present, every digest
matches, every path is a safe path under ``sub-P/``; only then are the files
moved into place (under the dataset's lock) and ``participants.tsv``
updated. A participant label already in the dataset is refused unless
``merge`` is asked for and no session collides.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import zipfile
from pathlib import Path, PurePosixPath

import pandas as pd

from eeg4students import __version__
from eeg4students._files import atomic_write_text, locked, sha256
from eeg4students.errors import DatasetError, EEG4StudentsError
from eeg4students.store import Dataset, check_label

MANIFEST = "manifest.json"


class PackageError(EEG4StudentsError):
    """A package that cannot be ingested: damaged, tampered or conflicting."""


def package_participant(dataset: Dataset | str | Path, participant: str, out: str | Path) -> Path:
    """Write one participant's recordings into a verifiable zip package.

    Parameters
    ----------
    dataset : Dataset | str | Path
        The dataset holding the participant.
    participant : str
        Their label.
    out : str | Path
        The zip file to write (written atomically).

    Returns
    -------
    out : Path
    """
    dataset = dataset if isinstance(dataset, Dataset) else Dataset(dataset)
    if participant not in dataset.participants():
        raise DatasetError(
            f"{dataset.root} has no participant {participant!r}; "
            f"it has: {', '.join(dataset.participants()) or 'none'}."
        )
    folder = dataset.root / f"sub-{participant}"
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    table = pd.read_csv(
        dataset.root / "participants.tsv", sep="\t", dtype=str, keep_default_na=False
    )
    row = table[table["participant_id"] == f"sub-{participant}"].to_dict(orient="records")
    manifest = {
        "participant": participant,
        "participants_row": row[0] if row else {"participant_id": f"sub-{participant}"},
        "toolkit_version": __version__,
        "files": {str(p.relative_to(dataset.root).as_posix()): sha256(p) for p in files},
    }
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in files:
            archive.write(path, path.relative_to(dataset.root).as_posix())
        archive.writestr(MANIFEST, json.dumps(manifest, indent=2))
    tmp.replace(out)
    return out


def _read_package(path: Path) -> tuple[dict, zipfile.ZipFile]:
    if not path.is_file():
        raise PackageError(f"{path}: no such package file.")
    try:
        archive = zipfile.ZipFile(path)
        bad = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise PackageError(
            f"{path}: not a readable zip file ({exc}); ask for the package again."
        ) from exc
    if bad is not None:
        raise PackageError(f"{path}: {bad} is damaged inside the zip; ask for the package again.")
    try:
        manifest = json.loads(archive.read(MANIFEST))
    except (KeyError, json.JSONDecodeError) as exc:
        raise PackageError(f"{path}: the manifest is missing or unreadable.") from exc
    return manifest, archive


def verify_package(path: str | Path) -> dict:
    """Check a package without ingesting it; return its manifest.

    Raises
    ------
    PackageError
        Naming the first problem: unreadable zip, missing or extra file,
        digest mismatch, unsafe path, invalid label.
    """
    path = Path(path)
    manifest, archive = _read_package(path)
    with archive:
        participant = check_label("participant", manifest.get("participant", ""))
        listed = manifest.get("files", {})
        present = {n for n in archive.namelist() if not n.endswith("/") and n != MANIFEST}
        if set(listed) != present:
            extra = sorted(present - set(listed)) or sorted(set(listed) - present)
            raise PackageError(
                f"{path}: the manifest does not match the files ({extra[0]} differs); the "
                "package was altered."
            )
        for name, digest in listed.items():
            parts = PurePosixPath(name).parts
            if (
                PurePosixPath(name).is_absolute()
                or ".." in parts
                or parts[0] != f"sub-{participant}"
            ):
                raise PackageError(f"{path}: {name} is not a path inside sub-{participant}/.")
            if hashlib.sha256(archive.read(name)).hexdigest() != digest:
                raise PackageError(f"{path}: {name} does not match its checksum; it was altered.")
    return manifest


def ingest(
    package: str | Path, dataset: str | Path, *, merge: bool = False
) -> tuple[str, list[str]]:
    """Verify a package and add its participant to a dataset.

    Parameters
    ----------
    package : str | Path
        The zip file from :func:`package_participant`.
    dataset : str | Path
        The dataset (created if new).
    merge : bool
        Accept a participant label the dataset already has, adding sessions it
        does not have yet.

    Returns
    -------
    participant : str
        The participant's label.
    files : list of str
        The files added (relative to the dataset).

    Raises
    ------
    PackageError
        If anything is wrong; the dataset is then unchanged.
    """
    package = Path(package)
    manifest = verify_package(package)
    participant = manifest["participant"]
    store = Dataset.create(dataset)
    with locked(store.root / ".eeg4students.lock"):
        existing = store.root / f"sub-{participant}"
        if existing.exists():
            if not merge:
                raise PackageError(
                    f"{store.root} already has participant {participant!r}; add --merge to add "
                    "the package's sessions to theirs, or ingest under another label."
                )
            clashes = sorted(
                {
                    PurePosixPath(n).parts[1]
                    for n in manifest["files"]
                    if len(PurePosixPath(n).parts) > 2
                }
                & {p.name for p in existing.glob("ses-*")}
            )
            if clashes:
                raise PackageError(
                    f"{store.root} already has {participant}'s {clashes[0]}; nothing was added."
                )
        with tempfile.TemporaryDirectory(dir=store.root, prefix=".ingest-") as tmp:
            with zipfile.ZipFile(package) as archive:
                for name in manifest["files"]:
                    target = Path(tmp) / name
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(archive.read(name))
            added = []
            for name in manifest["files"]:
                target = store.root / name
                if target.exists():
                    continue  # a shared sub-P file when merging (sessions.tsv): keep ours
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.move(str(Path(tmp) / name), target)
                added.append(name)
        if merge:
            store.refresh_sessions_tsv(participant)
        _add_participant_row(store.root, manifest["participants_row"])
    return participant, added


def _add_participant_row(root: Path, row: dict) -> None:
    path = root / "participants.tsv"
    table = (
        pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
        if path.is_file()
        else pd.DataFrame()
    )
    if len(table) and (table["participant_id"] == row["participant_id"]).any():
        return
    table = pd.concat([table, pd.DataFrame([row])], ignore_index=True).fillna("n/a")
    atomic_write_text(path, table.to_csv(sep="\t", index=False))
