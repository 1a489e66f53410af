"""Remote sessions: one verifiable package per participant, and ingesting it.

A package is a zip file holding the participant's BIDS folder
(``sub-P/...``) and ``manifest.json``: the participant label, their
``participants.tsv`` row, the toolkit version, and the SHA-256 of every
file. A package comes from outside the lab, so :func:`ingest` treats it as
untrusted and checks everything before the dataset changes:

1. **verify** (:func:`verify_package`, nothing written): the zip opens; the
   manifest is well formed; it lists exactly the files present, each once;
   every name is a file this toolkit writes for participant ``P``
   (``sub-P/ses-S/eeg/sub-P_ses-S_task-T_run-R_eeg.vhdr`` and its
   siblings, ``sub-P/ses-S/sub-P_ses-S_scans.tsv``,
   ``sub-P/sub-P_sessions.tsv``), each recording complete; the
   participants row names ``P`` and holds plain values; sizes are within
   :data:`MAX_ENTRY_BYTES` and :data:`MAX_PACKAGE_BYTES` and fit on the
   disk; every digest matches, hashed while streaming (no file is read
   whole into memory);
2. **stage**: under the dataset's lock, the files are extracted into a
   hidden folder inside the dataset (hashes checked again as they are
   written) and every recording is opened with its sidecars, and its
   header must name only its own data and marker files;
3. **commit**: the participant's folder (or, with ``merge``, each new
   session folder; with ``add_runs``, also each new recording of a session
   the dataset has) is moved into place with a rename, and
   ``participants.tsv`` and ``sub-P_sessions.tsv`` are rewritten
   atomically. If any step fails, the steps already done are undone: the
   dataset is left byte for byte as it was (a dataset the ingest created is
   removed).
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import shutil
import zipfile
from pathlib import Path, PurePosixPath

from eeg4students import __version__
from eeg4students import _json as limited_json
from eeg4students._files import (
    atomic_path,
    atomic_write_text,
    removed_on_failure,
    sha256,
)
from eeg4students.errors import DatasetError, EEG4StudentsError, LabelError, first_line
from eeg4students.store import (
    ATTRIBUTE_NAMES,
    LABEL,
    RECORDING_STEM,
    Dataset,
    Transaction,
    add_participant_row,
    cell_problem,
    check_attributes,
    check_label,
    open_recording,
    read_participants,
    read_tsv,
    tsv_rows,
)

MANIFEST = "manifest.json"
#: Largest single file in a package (bytes): hours of 16-channel EEG.
MAX_ENTRY_BYTES = 4 * 1024**3
#: Largest header, marker or sidecar file in a package (bytes).
MAX_SIDECAR_BYTES = 64 * 1024**2
#: Largest package, all files together (bytes).
MAX_PACKAGE_BYTES = 16 * 1024**3
#: Most files in a package.
MAX_ENTRIES = 20_000
#: Largest manifest (bytes).
MAX_MANIFEST_BYTES = 16 * 1024**2
#: Free space kept on the disk beyond the package's size (bytes).
DISK_MARGIN_BYTES = 64 * 1024**2
_CHUNK = 1 << 20

_RECORDING_FILE = re.compile(
    rf"sub-(?P<folder_sub>{LABEL})/ses-(?P<folder_ses>{LABEL})/eeg/(?P<stem>{RECORDING_STEM})_"
    r"(?P<suffix>eeg\.vhdr|eeg\.vmrk|eeg\.eeg|eeg\.json|eeg4students\.json|channels\.tsv|"
    r"events\.tsv|events\.json)"
)
_SCANS_FILE = re.compile(
    rf"sub-(?P<folder_sub>{LABEL})/ses-(?P<folder_ses>{LABEL})/sub-(?P<sub>{LABEL})_"
    rf"ses-(?P<ses>{LABEL})_scans\.tsv"
)
_SESSIONS_FILE = re.compile(rf"sub-(?P<folder_sub>{LABEL})/sub-(?P<sub>{LABEL})_sessions\.tsv")
#: Files every recording of a package must have.
_REQUIRED = ("eeg.vhdr", "eeg.vmrk", "eeg.eeg", "eeg.json", "channels.tsv")
_COLUMN = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_MAX_COLUMNS, _MAX_CELL = 64, 256


class PackageError(EEG4StudentsError):
    """A package that cannot be ingested: damaged, tampered, unsafe or conflicting."""


def package_participant(
    dataset: Dataset | str | Path,
    participant: str,
    out: str | Path,
    *,
    sessions: list[str] | None = None,
) -> Path:
    """Write one participant's recordings into a verifiable zip package.

    Parameters
    ----------
    dataset : Dataset | str | Path
        The dataset holding the participant.
    participant : str
        Their label.
    out : str | Path
        The zip file to write (written atomically).
    sessions : list of str | None
        Only these sessions' recordings (labels without ``ses-``); None packs
        every session.

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
    if sessions is not None:
        wanted = {f"ses-{s}" for s in sessions}
        files = [
            p for p in files if p.parent == folder or p.relative_to(folder).parts[0] in wanted
        ]
        if not any(p.parent != folder for p in files):
            raise DatasetError(
                f"{dataset.root} has no recording of {participant!r} in session(s) "
                f"{', '.join(sessions)}; nothing to pack."
            )
    row = {"participant_id": f"sub-{participant}"}
    if (dataset.root / "participants.tsv").is_file():
        table = read_participants(dataset.root / "participants.tsv")
        rows = table[table["participant_id"] == f"sub-{participant}"].to_dict(orient="records")
        row = rows[0] if rows else row
    manifest = {
        "participant": participant,
        "participants_row": row,
        "toolkit_version": __version__,
        "files": {str(p.relative_to(dataset.root).as_posix()): sha256(p) for p in files},
    }
    out = Path(out)
    with atomic_path(out) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in files:
            archive.write(path, path.relative_to(dataset.root).as_posix())
        archive.writestr(MANIFEST, json.dumps(manifest, indent=2))
    return out


# -- verification ---------------------------------------------------------------------


def _open(path: Path) -> zipfile.ZipFile:
    if not path.is_file():
        raise PackageError(f"{path}: no such package file.")
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        raise PackageError(
            f"{path}: not a readable zip file ({first_line(exc)}); ask for the package again."
        ) from exc


def _manifest(path: Path, archive: zipfile.ZipFile) -> dict:
    try:
        info = archive.getinfo(MANIFEST)
        if info.file_size > MAX_MANIFEST_BYTES:
            raise PackageError(f"{path}: the manifest is too large to be one of ours.")
        manifest = limited_json.loads(archive.read(info))
    except PackageError:
        raise
    except limited_json.JSONLimitError as exc:
        raise PackageError(
            f"{path}: the manifest is {exc}; it was not made by eeg4students."
        ) from exc
    except (KeyError, ValueError, zipfile.BadZipFile, OSError, EOFError) as exc:
        raise PackageError(f"{path}: the manifest is missing or unreadable.") from exc
    if not (
        isinstance(manifest, dict)
        and isinstance(manifest.get("participant"), str)
        and isinstance(manifest.get("files"), dict)
        and isinstance(manifest.get("participants_row"), dict)
    ):
        raise PackageError(
            f"{path}: the manifest lacks the participant, the files or the participants row; "
            "make the package with `eeg4students package`."
        )
    for name, digest in manifest["files"].items():
        if not (isinstance(digest, str) and re.fullmatch(r"[0-9a-f]{64}", digest)):
            raise PackageError(f"{path}: the manifest's checksum of {name!r} is not a SHA-256.")
    return manifest


def _check_names(path: Path, participant: str, names: list[str]) -> None:
    """Every name is a file this toolkit writes for the participant; recordings are whole."""
    parts: dict[str, set[str]] = {}
    for name in names:
        recording = _RECORDING_FILE.fullmatch(name)
        match = recording or _SCANS_FILE.fullmatch(name) or _SESSIONS_FILE.fullmatch(name)
        groups = match.groupdict() if match else {}
        # The file's own labels must be those of the folders it sits in.
        if not groups or any(
            groups[k] != groups[f"folder_{k}"] for k in ("sub", "ses") if k in groups
        ):
            raise PackageError(
                f"{path}: {name!r} is not a file of a BIDS recording this toolkit writes; the "
                "package was altered or made by another program."
            )
        if match["sub"] != participant:
            raise PackageError(
                f"{path}: {name!r} belongs to participant {match['sub']!r}, not to "
                f"{participant!r} whose package this is."
            )
        if recording:
            parts.setdefault(recording["stem"], set()).add(recording["suffix"])
    if not parts:
        raise PackageError(f"{path}: the package holds no recording.")
    for stem, have in sorted(parts.items()):
        missing = [s for s in _REQUIRED if s not in have]
        if missing:
            raise PackageError(f"{path}: recording {stem} lacks its {missing[0]} file.")


def _check_row(path: Path, participant: str, row: dict) -> dict:
    """The participants row, checked: it names the participant and holds plain values."""
    if row.get("participant_id") != f"sub-{participant}":
        named = row.get("participant_id")
        raise PackageError(
            f"{path}: the participants row names {named!r} instead of 'sub-{participant}'; "
            "the package was altered."
        )
    if len(row) > _MAX_COLUMNS:
        raise PackageError(f"{path}: the participants row has {len(row)} columns; too many.")
    clean = {}
    for key, value in row.items():
        if not _COLUMN.fullmatch(str(key)):
            raise PackageError(f"{path}: the participants row has a bad column name {key!r}.")
        if value is None:
            value = "n/a"
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise PackageError(f"{path}: the participants row's {key!r} is not a plain value.")
        text = str(value)
        if len(text) > _MAX_CELL or any(c in text for c in "\t\r\n") or not text.isprintable():
            raise PackageError(
                f"{path}: the participants row's {key!r} holds tabs, line breaks or control "
                "characters, or is too long."
            )
        problem = cell_problem(text)
        if problem:
            raise PackageError(f"{path}: the participants row's {key!r} {problem}.")
        clean[str(key)] = text
    known = {k: v for k, v in clean.items() if k in ATTRIBUTE_NAMES and v != "n/a"}
    try:
        check_attributes(known)
    except DatasetError as exc:
        raise PackageError(f"{path}: the participants row: {exc}") from exc
    return clean


def _stream_digest(
    path: Path, archive: zipfile.ZipFile, info: zipfile.ZipInfo, out: io.RawIOBase | None = None
) -> str:
    """SHA-256 of an entry, read in chunks (optionally copied to ``out``), size-checked."""
    digest, size = hashlib.sha256(), 0
    damaged = (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError)
    try:
        src = archive.open(info)
    except damaged as exc:
        raise _damaged(path, info, exc) from exc
    with src:
        while True:
            try:
                chunk = src.read(_CHUNK)
            except damaged as exc:
                raise _damaged(path, info, exc) from exc
            if not chunk:
                break
            size += len(chunk)
            if size > info.file_size or size > MAX_ENTRY_BYTES:
                raise PackageError(f"{path}: {info.filename} is larger than it claims.")
            digest.update(chunk)
            if out is not None:
                out.write(chunk)  # a full disk here is the disk's fault, not the package's
    return digest.hexdigest()


def _damaged(path: Path, info: zipfile.ZipInfo, exc: BaseException) -> PackageError:
    return PackageError(
        f"{path}: {info.filename} is damaged inside the zip ({first_line(exc)}); ask for the "
        "package again."
    )


def _check_space(path: Path, target: Path, total: int) -> None:
    here = Path(target).absolute()
    while not here.exists():
        here = here.parent
    free = shutil.disk_usage(here).free
    if free < total + DISK_MARGIN_BYTES:
        raise PackageError(
            f"{path}: the package needs {total / 1e6:,.0f} MB but {here} has "
            f"{free / 1e6:,.0f} MB free; free some space first."
        )


def verify_package(path: str | Path, target: str | Path | None = None) -> dict:
    """Check a package without ingesting it; return its manifest.

    Parameters
    ----------
    path : str | Path
        The zip file.
    target : str | Path | None
        The dataset it is meant for: its disk must have room for the package.

    Returns
    -------
    manifest : dict
        With ``participants_row`` checked and normalised to text values.

    Raises
    ------
    PackageError
        Naming the first problem: unreadable zip, bad manifest, missing,
        extra or duplicated file, a name that is not the participant's BIDS
        file, an incomplete recording, a bad participants row, a file too
        large, a checksum mismatch.
    """
    path = Path(path)
    with _open(path) as archive:
        encrypted = [i.filename for i in archive.infolist() if i.flag_bits & 0x1]
        if encrypted:
            raise PackageError(
                f"{path}: {encrypted[0]} is encrypted; packages from `eeg4students package` "
                "never are, so it was not read."
            )
        manifest = _manifest(path, archive)
        try:
            participant = check_label("participant", manifest["participant"])
        except LabelError as exc:
            raise PackageError(f"{path}: {exc}") from exc
        entries = [i for i in archive.infolist() if not i.is_dir() and i.filename != MANIFEST]
        names = [i.filename for i in entries]
        if len(names) > MAX_ENTRIES:
            raise PackageError(f"{path}: the package holds {len(names)} files; too many.")
        every = [i.filename for i in archive.infolist()]
        if len(set(every)) != len(every):
            raise PackageError(
                f"{path}: a file appears twice in the zip; the package was altered."
            )
        listed = manifest["files"]
        if set(listed) != set(names):
            odd = sorted(set(names) ^ set(listed))[0]
            raise PackageError(
                f"{path}: the manifest does not match the files ({odd} differs); the "
                "package was altered."
            )
        for name in names:
            pure = PurePosixPath(name)
            if pure.is_absolute() or ".." in pure.parts or "\\" in name:
                raise PackageError(f"{path}: {name} is not a path inside sub-{participant}/.")
        _check_names(path, participant, names)
        manifest["participants_row"] = _check_row(path, participant, manifest["participants_row"])
        total = 0
        for info in entries:
            limit = MAX_ENTRY_BYTES if info.filename.endswith("_eeg.eeg") else MAX_SIDECAR_BYTES
            if info.file_size > limit:
                raise PackageError(
                    f"{path}: {info.filename} is {info.file_size / 1e6:,.0f} MB, more than such "
                    f"a file may hold in a package ({limit / 1e6:,.0f} MB)."
                )
            total += info.file_size
        if total > MAX_PACKAGE_BYTES:
            raise PackageError(
                f"{path}: its files add up to {total / 1e9:.1f} GB, more than a package may "
                f"hold ({MAX_PACKAGE_BYTES / 1e9:.1f} GB)."
            )
        if target is not None:
            _check_space(path, Path(target), total)
        for info in entries:
            if _stream_digest(path, archive, info) != listed[info.filename]:
                raise PackageError(
                    f"{path}: {info.filename} does not match its checksum; it was altered."
                )
    return manifest


# -- ingest --------------------------------------------------------------------------


def _extract(path: Path, manifest: dict, staging: Path) -> None:
    """Write the package's files under ``staging``, checking each digest as it is written."""
    with _open(path) as archive:
        for name, digest in manifest["files"].items():
            target = staging / name
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(target, "wb") as out:
                got = _stream_digest(path, archive, archive.getinfo(name), out)
            if got != digest:
                raise PackageError(f"{path}: {name} changed while it was read; it was altered.")


def _check_staged(path: Path, staging: Path, participant: str, row: dict) -> None:
    """Open every staged recording as the dataset will: with its sidecars and its row."""
    import numpy as np
    from mne_bids import get_bids_path_from_fname

    from eeg4students.io.mne_formats import brainvision_files

    # mne-bids reads the participant's row (age, sex, hand) with each recording.
    add_participant_row(staging, row)
    sub = staging / f"sub-{participant}"
    for vhdr in sorted(sub.glob("ses-*/eeg/*_eeg.vhdr")):
        name = vhdr.relative_to(staging).as_posix()
        stem = vhdr.name[: -len("_eeg.vhdr")]
        try:
            files = brainvision_files(vhdr)
            raw = open_recording(get_bids_path_from_fname(vhdr), preload=True)
        except EEG4StudentsError as exc:
            raise PackageError(f"{path}: {name} cannot be opened as a recording: {exc}") from exc
        for key, suffix in (("DataFile", "_eeg.eeg"), ("MarkerFile", "_eeg.vmrk")):
            if key not in files or files[key].name != stem + suffix:
                raise PackageError(f"{path}: {name} does not name its own {suffix} file.")
        if raw.n_times == 0 or not np.isfinite(raw.get_data()).all():
            raise PackageError(f"{path}: {name} holds no samples, or NaN or infinite ones.")
    for table in sorted(sub.rglob("*.tsv")):
        try:
            read_tsv(table)
        except DatasetError as exc:
            raise PackageError(f"{path}: {exc}") from exc


def _conflicts(
    store: Dataset, manifest: dict, merge: bool, add_runs: bool = False
) -> tuple[list[str], list[str]]:
    """The session folders to move in, and those to add runs to; raise on a clash.

    With ``add_runs``, a session the dataset has already takes the package's
    recordings it lacks; a file it has with the same content is left alone
    (a package sent twice adds nothing the second time), one with other
    content is refused.
    """
    participant = manifest["participant"]
    try:
        store.check_not_forgotten(participant)
    except DatasetError as exc:
        raise PackageError(str(exc)) from exc
    sessions = sorted({PurePosixPath(n).parts[1] for n in manifest["files"] if n.count("/") > 1})
    existing = store.root / f"sub-{participant}"
    twins = [
        entry.name
        for folder, names in ((store.root, [existing.name]), (existing, sessions))
        if folder.is_dir()
        for entry in folder.iterdir()
        for name in names
        if entry.name != name and entry.name.lower() == name.lower()
    ]
    if twins:
        raise PackageError(
            f"{store.root} has {twins[0]}, which differs from the package's labels only in "
            "case; the folders would be one on macOS and Windows disks. Ingest under the "
            "dataset's spelling."
        )
    if not existing.exists():
        return sessions, []
    if not (merge or add_runs):
        raise PackageError(
            f"{store.root} already has participant {participant!r}; add --merge to add "
            "the package's sessions to theirs, or ingest under another label."
        )
    clashes = sorted(set(sessions) & {p.name for p in existing.glob("ses-*")})
    if clashes and not add_runs:
        raise PackageError(
            f"{store.root} already has {participant}'s {clashes[0]}; nothing was added."
        )
    for name, digest in sorted(manifest["files"].items()):
        target = store.root / name
        if (
            PurePosixPath(name).parts[1] in clashes
            and not name.endswith("_scans.tsv")
            and target.exists()
            and (not target.is_file() or sha256(target) != digest)
        ):
            raise PackageError(
                f"{store.root} already has a different {name}; nothing was added (store "
                "the package under another label, or ask for the recording again)."
            )
    return [s for s in sessions if s not in clashes], clashes


def _commit(
    change: Transaction,
    store: Dataset,
    staging: Path,
    manifest: dict,
    sessions: list[str],
    runs_into: list[str],
) -> list:
    """Move the staged files into the dataset (undone with ``change`` if a step fails).

    ``sessions`` are moved in whole; ``runs_into`` are sessions the dataset
    has, which take the staged recordings they lack and the rows of their
    scans file.
    """
    root, participant = store.root, manifest["participant"]
    sub = root / f"sub-{participant}"
    merging = sub.exists()
    change.protect(root / "participants.tsv", sub / f"sub-{participant}_sessions.tsv", how="copy")
    added = []
    if merging:
        for session in sessions:
            change.move(staging / sub.name / session, sub / session)
        added += [
            n
            for n in manifest["files"]
            if n.count("/") > 1 and PurePosixPath(n).parts[1] in sessions
        ]
        for session in runs_into:
            added += _add_runs(change, root, staging, sub.name, session, manifest)
        if added:  # a package sent again changes nothing
            store.refresh_sessions_tsv(participant)
    else:
        change.move(staging / sub.name, sub)
        added = list(manifest["files"])
    add_participant_row(root, manifest["participants_row"])
    # When merging, the package's sessions.tsv is not used: the dataset's is rewritten.
    return sorted(added)


def _add_runs(
    change: Transaction, root: Path, staging: Path, sub: str, session: str, manifest: dict
) -> list[str]:
    """Move a session's new recordings in and add their rows to its scans file."""
    added = []
    for name in sorted(manifest["files"]):
        parts = PurePosixPath(name).parts
        if parts[1] != session or name.endswith("_scans.tsv") or (root / name).exists():
            continue  # the same file is there already (checked by _conflicts)
        change.move(staging / name, root / name)
        added.append(name)
    ours = next((root / sub / session).glob("*_scans.tsv"), None)
    theirs = next((staging / sub / session).glob("*_scans.tsv"), None)
    if theirs is not None and ours is None:
        change.move(theirs, root / theirs.relative_to(staging))
    elif theirs is not None:
        header, rows = tsv_rows(ours)
        their_header, their_rows = tsv_rows(theirs)
        if "filename" in header and "filename" in their_header:
            have = {row[header.index("filename")] for row in rows}
            for row in their_rows:
                cells = dict(zip(their_header, row, strict=True))
                if cells["filename"] not in have:
                    rows.append([cells.get(column, "n/a") for column in header])
            change.protect(ours, how="copy")
            text = "".join("\t".join(row) + "\n" for row in [header, *rows])
            atomic_write_text(ours, text)
    return added


def ingest(
    package: str | Path,
    dataset: str | Path,
    *,
    merge: bool = False,
    add_runs: bool = False,
    participant: str | None = None,
    sessions: list[str] | None = None,
) -> tuple[str, list[str]]:
    """Verify a package and add its participant to a dataset (see the module docstring).

    Parameters
    ----------
    package : str | Path
        The zip file from :func:`package_participant`.
    dataset : str | Path
        The dataset (created if new).
    merge : bool
        Accept a participant label the dataset already has, adding sessions it
        does not have yet.
    add_runs : bool
        Also add recordings to sessions the dataset has (a classroom's
        student sending each run of a session): files it has with the same
        content are skipped, so sending a package again adds nothing; a file
        with other content is refused.
    participant : str | None
        Refuse a package of anyone else (a classroom receiving a student's).
    sessions : list of str | None
        Refuse a package holding other sessions than these.

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
    package, root = Path(package), Path(dataset)
    manifest = verify_package(package, target=root)
    if participant is not None and manifest["participant"] != participant:
        raise PackageError(
            f"{package}: the package holds participant {manifest['participant']!r}, not "
            f"{participant!r}; nothing was added."
        )
    held = {PurePosixPath(n).parts[1][4:] for n in manifest["files"] if n.count("/") > 1}
    if sessions is not None and not held <= set(sessions):
        raise PackageError(
            f"{package}: the package holds session {sorted(held - set(sessions))[0]!r}, not "
            f"only {', '.join(sessions)}; nothing was added."
        )
    participant = manifest["participant"]
    with removed_on_failure(root):
        store = Dataset.create(root)
        with store.lock(), Transaction(store.root) as change:
            sessions, runs_into = _conflicts(store, manifest, merge, add_runs)
            staging = change.stage(".ingest-")
            _extract(package, manifest, staging)
            _check_staged(package, staging, participant, _row_for(store, manifest))
            added = _commit(change, store, staging, manifest, sessions, runs_into)
    return participant, added


def _row_for(store: Dataset, manifest: dict) -> dict:
    """The participants row the dataset will hold: its own if it has one, else the package's."""
    path = store.root / "participants.tsv"
    if path.is_file():
        table = read_tsv(path)
        if "participant_id" in table.columns:
            mine = table[table["participant_id"] == manifest["participants_row"]["participant_id"]]
            if len(mine):
                return mine.iloc[0].to_dict()
    return manifest["participants_row"]
