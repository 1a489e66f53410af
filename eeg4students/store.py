"""The dataset on disk: a BIDS folder written and read with mne-bids.

Layout (``P`` participant, ``S`` session, ``T`` task, ``R`` run)::

    DATASET/
      dataset_description.json  README  participants.tsv  participants.json
      sub-P/sub-P_sessions.tsv
      sub-P/ses-S/sub-P_ses-S_scans.tsv
      sub-P/ses-S/eeg/sub-P_ses-S_task-T_run-R_eeg.{vhdr,vmrk,eeg}   (float32, uV)
      sub-P/ses-S/eeg/sub-P_ses-S_task-T_run-R_{eeg.json,channels.tsv,events.tsv,events.json}
      derivatives/eeg4students/   (features, models: later stages)

Annotations (task blocks, markers, ``BAD_gap``) go to ``events.tsv``. What the
toolkit learned at import (source file and its SHA-256, device, gaps,
clipping) is kept under the ``EEG4Students`` key of the recording's
``eeg.json``, so listing a dataset reads only small sidecars.

Every change to a dataset happens under a lock file, so several recorders
can write into one dataset at once; a change that fails is rolled back.
"""

from __future__ import annotations

import contextlib
import csv
import os
import re
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import mne
import pandas as pd
from mne_bids import BIDSPath, make_dataset_description, read_raw_bids, write_raw_bids

from eeg4students import __version__
from eeg4students import _json as limited_json
from eeg4students._files import (
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    clear_undo,
    locked,
    sha256,
)
from eeg4students._mne_bids_quick import quick_writes
from eeg4students.errors import DatasetError, LabelError, RecordingFormatError, first_line
from eeg4students.io.mne_formats import brainvision_files
from eeg4students.names import MAX_AGE, MAX_RUN
from eeg4students.quality import CLIPPED_SHARE, device_model, recording_quality

#: A BIDS label: letters and digits.
LABEL = r"[A-Za-z0-9]+"
_LABEL_RE = re.compile(LABEL)
#: The stem of a recording's files: sub-P_ses-S_task-T[_run-R].
RECORDING_STEM = (
    rf"sub-(?P<sub>{LABEL})_ses-(?P<ses>{LABEL})_task-(?P<task>{LABEL})(?:_run-(?P<run>[0-9]+))?"
)
_HEADER_RE = re.compile(rf"{RECORDING_STEM}_eeg\.vhdr")
#: The lock file every command that changes the dataset holds while it does.
LOCK_NAME = ".eeg4students.lock"
#: The forgetting audit log (written by :mod:`eeg4students.unlearning.audit`).
AUDIT_LOG = Path("derivatives") / "eeg4students" / "audit" / "forget-log.jsonl"
#: What the toolkit learned of a recording (source, device, gaps, notes) is kept
#: in this file beside it, listed in ``.bidsignore``: BIDS validators accept it,
#: where a custom key in ``*_eeg.json`` fails the older validator's schema.
META_SUFFIX = "_eeg4students.json"
#: Where datasets written by earlier versions kept it (still read).
_LEGACY_META_KEY = "EEG4Students"
#: Lines of ``.bidsignore``: the toolkit's files that are not part of BIDS.
BIDSIGNORE = (f"*{META_SUFFIX}", LOCK_NAME)
#: BIDS keys of ``*_eeg.json`` that describe the task (filled from a protocol).
TASK_FIELDS = ("TaskDescription", "Instructions")
#: A recording shorter than this share of the dataset's median is "short".
SHORT_SHARE = 0.5

_MANUFACTURERS = {
    "muse": "Interaxon",
    "muse_2": "Interaxon",
    "muse_s": "Interaxon",
    "muse_2016": "Interaxon",
    "cyton": "OpenBCI",
    "cyton_daisy": "OpenBCI",
    "ganglion": "OpenBCI",
    "simulated": "eeg4students (simulated)",
}


def check_label(kind: str, label: str) -> str:
    """Return ``label`` as text if it is a valid BIDS label, else raise.

    Parameters
    ----------
    kind : str
        What the label names (``"participant"``, ``"session"``...), for the
        message.
    label : str
        The label; BIDS allows letters and digits only.

    Returns
    -------
    label : str

    Raises
    ------
    LabelError
        If the label is empty or holds anything but letters and digits.
    """
    text = str(label)
    if not _LABEL_RE.fullmatch(text):
        hint = (
            " Participant labels are pseudonyms (e.g. 'p07'), never names."
            if kind == ("participant")
            else ""
        )
        raise LabelError(
            f"The {kind} label {text!r} is not a valid BIDS label: use letters and "
            f"digits only, without spaces, dashes or underscores.{hint}"
        )
    return text


@dataclass(frozen=True)
class RecordingRef:
    """Where one recording sits in a dataset.

    Attributes
    ----------
    participant, session, task : str
        BIDS labels.
    run : int
        Run number (1-based).
    path : Path
        The recording's ``.vhdr`` file.
    """

    participant: str
    session: str
    task: str
    run: int
    path: Path


class Dataset:
    """A BIDS dataset of EEG recordings on disk.

    Parameters
    ----------
    root : str | Path
        The dataset folder; it must hold ``dataset_description.json``. Use
        :meth:`create` to make a new one.

    Raises
    ------
    DatasetError
        If the folder does not exist or is not a BIDS dataset.
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        #: Participants whose tables wait for the end of :meth:`tidied_at_end` (None: none wait).
        self._untidy: set[str] | None = None
        if self.root.is_file():
            hint = (
                "; it looks like a package: add it with `eeg4students ingest "
                f"{self.root} --to DATASET`"
                if zipfile.is_zipfile(self.root)
                else "; give the dataset's folder"
            )
            raise DatasetError(f"{self.root} is a file, not a dataset folder{hint}.")
        if not self.root.is_dir():
            raise DatasetError(
                f"{self.root}: no such dataset folder; create one with "
                "`eeg4students import` or `eeg4students simulate --to`."
            )
        if not (self.root / "dataset_description.json").is_file():
            raise DatasetError(
                f"{self.root} is not a BIDS dataset (it has no dataset_description.json); "
                "point to the dataset's top folder."
            )

    @classmethod
    def create(
        cls,
        root: str | Path,
        name: str = "eeg4students dataset",
        *,
        authors: Sequence[str] = (),
        license: str | None = None,
    ) -> Dataset:
        """Open the dataset at ``root``, creating it if the folder is new or empty.

        Parameters
        ----------
        root : str | Path
            The dataset folder.
        name : str
            The dataset's name in ``dataset_description.json`` (new datasets).
        authors : sequence of str
            Its authors (new datasets; :meth:`describe` changes them later).
            None given: no ``Authors`` entry (never placeholder names).
        license : str | None
            Its licence, e.g. ``CC0`` or ``CC-BY-4.0`` (new datasets).

        Returns
        -------
        dataset : Dataset

        Raises
        ------
        DatasetError
            If ``root`` is a non-empty folder that is not a BIDS dataset, or a file.
        """
        root = Path(root)
        if root.exists() and not root.is_dir():
            raise DatasetError(f"{root} is a file; give a folder for the dataset.")
        if (root / "dataset_description.json").is_file():
            return cls(root)
        if root.is_dir() and any(p.name != LOCK_NAME for p in root.iterdir()):
            raise DatasetError(
                f"{root} is not empty and not a BIDS dataset (no dataset_description.json); "
                "choose a new or empty folder."
            )
        root.mkdir(parents=True, exist_ok=True)
        with _dataset_lock(root):
            if not (root / "dataset_description.json").is_file():
                make_dataset_description(
                    path=root, name=name, dataset_type="raw", overwrite=False, verbose="error"
                )
                dataset = cls(root)
                dataset._ensure_bidsignore()
                dataset.describe(authors=authors, license=license)
                dataset._drop_placeholder_authors()
        return cls(root)

    def describe(
        self,
        *,
        name: str | None = None,
        authors: Sequence[str] | None = None,
        license: str | None = None,
    ) -> dict:
        """Set the dataset's name, authors and licence in ``dataset_description.json``.

        Parameters
        ----------
        name : str | None
            New name; None keeps it.
        authors : sequence of str | None
            The authors, in order; None keeps them, an empty list removes them.
        license : str | None
            The licence (``CC0``, ``CC-BY-4.0``, ``PDDL``...); None keeps it.

        Returns
        -------
        description : dict
            The description as written.

        Raises
        ------
        DatasetError
            If an author or the licence is empty, or the file is damaged.
        """
        path = self.root / "dataset_description.json"
        with self.lock():
            content = read_sidecar(path)
            if name is not None:
                if not name.strip():
                    raise DatasetError("The dataset's name is empty; give a name.")
                content["Name"] = name.strip()
            if authors is not None:
                cleaned = [a.strip() for a in authors]
                if any(not a for a in cleaned):
                    raise DatasetError("An author's name is empty; give each --author a name.")
                if cleaned:
                    content["Authors"] = cleaned
                else:
                    content.pop("Authors", None)
            if license is not None:
                if not license.strip():
                    raise DatasetError("The licence is empty; give e.g. --license CC-BY-4.0.")
                content["License"] = license.strip()
            tools = [g for g in content.get("GeneratedBy", []) if g.get("Name") != "eeg4students"]
            content["GeneratedBy"] = [
                {
                    "Name": "eeg4students",
                    "Version": __version__,
                    "Description": "EEG4Students protocol recordings, imports and simulations",
                },
                *tools,
            ]
            atomic_write_json(path, content)
        return content

    def _drop_placeholder_authors(self) -> None:
        """Remove the ``[Unspecified]`` authors mne-bids adds when a dataset names none."""
        path = self.root / "dataset_description.json"
        content = read_sidecar(path)
        authors = content.get("Authors")
        if (
            isinstance(authors, list)
            and authors
            and all(isinstance(a, str) and a.startswith("[Unspecified") for a in authors)
        ):
            del content["Authors"]
            atomic_write_json(path, content)

    def _ensure_bidsignore(self) -> None:
        """List the toolkit's own files in ``.bidsignore`` (kept lines of the user stay)."""
        path = self.root / ".bidsignore"
        lines = path.read_text(encoding="utf-8").splitlines() if path.is_file() else []
        missing = [line for line in BIDSIGNORE if line not in lines]
        if missing:
            atomic_write_text(path, "\n".join([*lines, *missing]) + "\n")

    # -- writing -------------------------------------------------------------

    def lock(self):
        """Hold the dataset's lock (a context manager; reentrant within a process).

        Every command that adds, changes or removes participants, recordings,
        features or models holds it, so commands running at once take turns.
        While it is held, mne-bids takes no lock file per file it touches
        (:func:`~eeg4students._mne_bids_quick.quick_writes`).
        """
        return _dataset_lock(self.root)

    @contextlib.contextmanager
    def tidied_at_end(self) -> Iterator[None]:
        """Hold the lock and tidy the dataset once at the end, not after every recording.

        For many recordings written in a row into a dataset nobody reads
        meanwhile (a parallel import's staging dataset): inside the block,
        :meth:`add_recording` leaves each participant's ``sessions.tsv`` and
        the removal of the placeholder authors mne-bids adds to the block's
        end, two file writes fewer per recording. The tidying is done even
        when the block fails; an error while tidying is raised.
        """
        if self._untidy is not None:
            raise RuntimeError("tidied_at_end() blocks of one Dataset do not nest.")
        with self.lock():
            self._untidy = set()
            try:
                yield
            finally:
                untidy, self._untidy = self._untidy, None
                for participant in sorted(untidy):
                    if (self.root / f"sub-{participant}").is_dir():
                        self.refresh_sessions_tsv(participant)
                if untidy:
                    self._drop_placeholder_authors()

    def forgotten(self) -> dict[str, dict]:
        """Participants this dataset forgot, from its audit log.

        Returns
        -------
        forgotten : dict of str to dict
            Per label: ``seq`` and ``time`` of the audit entry.

        Raises
        ------
        DatasetError
            If the audit log is damaged (check it with ``eeg4students audit verify``).
        """
        path = self.root / AUDIT_LOG
        if not path.is_file():
            return {}
        found = {}
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                entry = limited_json.loads(line)
                if entry.get("action") == "forget":
                    found[str(entry["participant"])] = {"seq": entry["seq"], "time": entry["time"]}
            except (ValueError, AttributeError, KeyError) as exc:
                raise DatasetError(
                    f"{path}, line {number}: the audit log is damaged; check it with "
                    f"`eeg4students audit verify {self.root}`."
                ) from exc
        return found

    def check_not_forgotten(self, participant: str) -> None:
        """Refuse a participant label the dataset forgot (they withdrew)."""
        entry = self.forgotten().get(participant)
        if entry is not None:
            raise DatasetError(
                f"Participant {participant!r} withdrew and was forgotten on {entry['time']} "
                f"(audit entry {entry['seq']}); nothing of theirs is added. If they consent "
                "again, record them under a new pseudonym."
            )

    def next_run(self, participant: str, session: str, task: str) -> int:
        """Return the first free run number for a participant, session and task."""
        stem = f"sub-{participant}/ses-{session}/eeg/sub-{participant}_ses-{session}_task-{task}_*"
        taken = {ref.run for ref in self._references(stem) if ref.task == task}
        run = 1
        while run in taken:
            run += 1
        return run

    def add_recording(
        self,
        raw: mne.io.BaseRaw,
        participant: str,
        session: str,
        task: str,
        run: int | None = None,
        *,
        source: str | Path | None = None,
        source_format: str | None = None,
        extra: dict | None = None,
        notes: Sequence[str] = (),
        attributes: dict[str, str] | None = None,
        keep_source_name: bool = False,
        task_fields: dict[str, str] | None = None,
        overwrite: bool = False,
    ) -> RecordingRef:
        """Write a recording into the dataset.

        Parameters
        ----------
        raw : mne.io.BaseRaw
            The recording, loaded, EEG in volts; annotations become
            ``events.tsv``.
        participant, session, task : str
            BIDS labels (letters and digits). The participant label is a
            pseudonym.
        run : int | None
            Run number; None takes the next free one.
        source : str | Path | None
            The file it was imported from; its SHA-256 is recorded (and its
            name with ``keep_source_name``).
        source_format : str | None
            The source file's format name.
        extra : dict | None
            More facts to keep in the sidecar (device settings, dropped
            samples, interruptions), JSON-serialisable.
        notes : sequence of str
            What the reader noticed (:func:`eeg4students.io.read_with_notes`);
            kept in the sidecar and shown by :meth:`recordings`.
        attributes : dict | None
            The participant's ``age`` (years), ``sex`` (M, F, O) and ``hand``
            (R, L, A) for ``participants.tsv``, given by the user. Personal
            data in a file header (EDF patient fields) is never used: the
            dataset holds pseudonyms.
        task_fields : dict | None
            ``TaskDescription`` and ``Instructions`` for the BIDS sidecar
            (from the protocol: :meth:`eeg4students.protocol.Protocol.bids_task_fields`).
        keep_source_name : bool
            Also record the source file's name. Off by default: file names
            often carry a participant's real name into a pseudonymised
            dataset; the SHA-256 identifies the file as well.
        overwrite : bool
            Replace a recording already stored under the same labels.

        Returns
        -------
        ref : RecordingRef
            Where it was written.

        Raises
        ------
        LabelError
            If a label is not a valid BIDS label.
        DatasetError
            If the recording exists and ``overwrite`` is False, the participant
            was forgotten, or writing fails (the dataset is then left as it was).
        """
        participant = check_label("participant", participant)
        session = check_label("session", session)
        task = check_label("task", task)
        attributes = check_attributes(attributes or {})
        task_fields = {k: str(v) for k, v in (task_fields or {}).items() if k in TASK_FIELDS}
        quality = recording_quality(raw)
        meta = {
            "device": device_model(raw),
            "source_file": Path(source).name if source and keep_source_name else None,
            "source_sha256": sha256(Path(source)) if source else None,
            "source_format": source_format,
            **quality,
            **(extra or {}),
        }
        if notes:
            meta["read_notes"] = [str(n) for n in notes]
        with self.lock():
            self.check_not_forgotten(participant)
            self._check_case(participant, session, task)
            if run is None:
                run = self.next_run(participant, session, task)
            if not 1 <= int(run) <= MAX_RUN:
                raise DatasetError(f"The run number {run} must be from 1 to {MAX_RUN}.")
            bids_path = self._bids_path(participant, session, task, int(run))
            if bids_path.fpath.exists() and not overwrite:
                raise DatasetError(
                    f"{self.root} already has sub-{participant} ses-{session} task-{task} "
                    f"run-{run}; give another --run or replace it with --overwrite."
                )
            with self._rollback(participant, session), _without_subject_info(raw):
                # mne-bids refuses a participant whose row differs from the recording's
                # (empty) subject fields: blank the row while it writes, then put it back.
                self._ensure_bidsignore()
                kept = self._take_attributes(participant)
                write_raw_bids(
                    raw,
                    bids_path,
                    format="BrainVision",
                    allow_preload=True,
                    overwrite=overwrite,
                    verbose="error",
                )
                self._write_sidecar_extras(bids_path, meta, task_fields)
                if self._untidy is None:
                    self._drop_placeholder_authors()
                    self.refresh_sessions_tsv(participant)
                else:
                    self._untidy.add(participant)
                if kept or attributes:
                    self._set_attributes(participant, {**kept, **attributes})
        return RecordingRef(participant, session, task, int(run), bids_path.fpath)

    def _check_case(self, participant: str, session: str, task: str) -> None:
        """Refuse labels that differ from ones the dataset has only in case.

        ``sub-Ab`` and ``sub-aB`` are two folders on Linux and one on the
        disks of macOS and Windows, where copying the dataset would merge them.

        Raises
        ------
        DatasetError
            Naming both labels.
        """
        where = [(self.root, f"sub-{participant}", "participant")]
        where.append((self.root / f"sub-{participant}", f"ses-{session}", "session"))
        for folder, name, kind in where:
            if not folder.is_dir():
                continue
            for entry in folder.iterdir():
                if entry.name != name and entry.name.lower() == name.lower():
                    raise DatasetError(
                        f"{self.root} has {entry.name}, which differs from the {kind} label "
                        f"{name} only in case; their folders would be one on macOS and Windows "
                        "disks. Use the dataset's spelling."
                    )
        for ref in self._references(f"sub-{participant}/ses-{session}/eeg/*"):
            if ref.task != task and ref.task.lower() == task.lower():
                raise DatasetError(
                    f"{self.root} has task {ref.task!r} for sub-{participant} ses-{session}, "
                    f"which differs from {task!r} only in case; use the dataset's spelling."
                )

    @contextlib.contextmanager
    def _rollback(self, participant: str, session: str):
        """Undo every file change of a write into one session, and of the shared files, on error.

        A recording's write touches only the dataset's shared files, the
        participant's own top-level files (``sessions.tsv``) and its session's
        folder, so only those are saved: the cost does not grow with the
        participant's other sessions.
        """
        shared = [
            self.root / name
            for name in (
                "participants.tsv",
                "participants.json",
                "README",
                "README.md",
                ".bidsignore",
                "dataset_description.json",
            )
        ]
        sub_dir = self.root / f"sub-{participant}"

        def touchable() -> set[Path]:
            top = [p for p in sub_dir.iterdir() if p.is_file()] if sub_dir.is_dir() else []
            session_dir = sub_dir / f"ses-{session}"
            inside = [p for p in session_dir.rglob("*") if p.is_file()]
            return {*top, *inside}

        before = touchable()
        tracked = shared + [p for p in before if p.suffix in (".tsv", ".json")]
        saved = {p: p.read_bytes() for p in tracked if p.is_file()}
        try:
            yield
        except BaseException as exc:
            for path in tracked:
                if path in saved:
                    path.write_bytes(saved[path])
                elif path.exists():
                    path.unlink()
            if sub_dir.exists():
                for path in touchable() - before:
                    path.unlink()
                for folder in sorted(sub_dir.rglob("*"), key=lambda p: -len(p.parts)):
                    if folder.is_dir() and not any(folder.iterdir()):
                        folder.rmdir()
                if not before and sub_dir.exists() and not any(sub_dir.iterdir()):
                    sub_dir.rmdir()
            if isinstance(exc, Exception) and not isinstance(exc, DatasetError):
                raise DatasetError(
                    f"Writing into {self.root} failed and was undone: {exc}"
                ) from exc
            raise

    def _bids_path(self, participant: str, session: str, task: str, run: int) -> BIDSPath:
        return BIDSPath(
            subject=participant,
            session=session,
            task=task,
            run=run,
            datatype="eeg",
            suffix="eeg",
            extension=".vhdr",
            root=self.root,
        )

    @staticmethod
    def _sidecar(bids_path: BIDSPath) -> Path:
        return bids_path.fpath.with_suffix(".json")

    def _write_sidecar_extras(
        self, bids_path: BIDSPath, meta: dict, task_fields: dict[str, str] | None = None
    ) -> None:
        sidecar = self._sidecar(bids_path)
        content = limited_json.loads(sidecar.read_text(encoding="utf-8"))
        device = meta.get("device")
        if device:
            content["Manufacturer"] = _MANUFACTURERS.get(device, "n/a")
            content["ManufacturersModelName"] = device
        content.update(task_fields or {})
        content.pop(_LEGACY_META_KEY, None)
        atomic_write_json(sidecar, content)
        atomic_write_json(meta_path(bids_path.fpath), meta)

    def _take_attributes(self, participant: str) -> dict[str, str]:
        """Blank the participant's attributes that mne-bids writes; return those known."""
        path = self.root / "participants.tsv"
        if not path.is_file():
            return {}
        # Read with the csv module first: this runs before every write and
        # usually finds nothing to keep (pandas only when there is).
        header, rows = _tsv_rows(path)
        columns = [c for c in _MNE_BIDS_ATTRIBUTES if c in header]
        if "participant_id" not in header or not columns:
            return {}
        ids = header.index("participant_id")
        row = next((r for r in rows if r[ids] == f"sub-{participant}"), None)
        if row is None:
            return {}
        kept = {c: row[header.index(c)] for c in columns}
        kept = {c: v for c, v in kept.items() if v not in ("n/a", "")}
        if kept:
            table = read_participants(path)
            table.loc[table["participant_id"] == f"sub-{participant}", columns] = "n/a"
            atomic_write_text(path, table.to_csv(sep="\t", index=False))
        return kept

    def _set_attributes(self, participant: str, attributes: dict[str, str]) -> None:
        """Write the participant's attributes into ``participants.tsv`` (under the lock)."""
        path = self.root / "participants.tsv"
        table = read_participants(path)
        row = table["participant_id"] == f"sub-{participant}"
        for key, value in attributes.items():
            if key not in table.columns:
                table[key] = "n/a"
            table.loc[row, key] = value
        atomic_write_text(path, table.to_csv(sep="\t", index=False))

    def adopt_participant(self, staging: Dataset, participant: str) -> None:
        """Move a participant written into another dataset on the same disk into this one.

        The participant's folder is moved with one rename and their row of
        ``participants.tsv`` copied; ``participants.json`` and ``README`` come
        along if this dataset has none yet. Used by parallel imports, whose
        workers write each new participant into a staging dataset inside this
        one. Every step is undone if one fails.

        Parameters
        ----------
        staging : Dataset
            The dataset holding ``sub-<participant>``, on the same file system.
        participant : str
            The label; this dataset must not have it, nor have forgotten it.

        Raises
        ------
        DatasetError
            If this dataset has or forgot the participant, or the staging
            dataset does not hold them.
        """
        source = staging.root / f"sub-{participant}"
        target = self.root / f"sub-{participant}"
        rows = read_participants(staging.root / "participants.tsv") if source.is_dir() else None
        if rows is None or not (rows["participant_id"] == f"sub-{participant}").any():
            raise DatasetError(f"{staging.root} holds no participant {participant!r} to move.")
        row = rows[rows["participant_id"] == f"sub-{participant}"].iloc[0].to_dict()
        shared = [self.root / name for name in ("participants.tsv", "participants.json", "README")]
        with self.lock():
            self.check_not_forgotten(participant)
            if target.exists():
                raise DatasetError(f"{self.root} already has participant {participant!r}.")
            saved = {p: p.read_bytes() for p in shared if p.is_file()}
            try:
                for path in shared[1:]:
                    if path not in saved and (staging.root / path.name).is_file():
                        atomic_write_bytes(path, (staging.root / path.name).read_bytes())
                os.rename(source, target)
                add_participant_row(self.root, row)
            except BaseException:
                if target.exists() and not source.exists():
                    os.rename(target, source)
                for path in shared:
                    if path in saved:
                        atomic_write_bytes(path, saved[path])
                    elif path.exists():
                        path.unlink()
                raise

    def sort_participants(self) -> None:
        """Rewrite ``participants.tsv`` sorted by participant (atomically, under the lock)."""
        path = self.root / "participants.tsv"
        with self.lock():
            if path.is_file():
                table = read_participants(path)
                ordered = table.sort_values("participant_id", kind="stable")
                if not ordered.index.equals(table.index):
                    atomic_write_text(path, ordered.to_csv(sep="\t", index=False))

    def refresh_sessions_tsv(self, participant: str) -> None:
        """Rewrite ``sub-P_sessions.tsv`` from the participants' scans files."""
        sub_dir = self.root / f"sub-{participant}"
        rows = []
        for ses_dir in sorted(sub_dir.glob("ses-*")):
            scans = next(ses_dir.glob("*_scans.tsv"), None)
            acq = "n/a"
            if scans is not None:
                times = [t for t in _tsv_column(scans, "acq_time") if t not in ("n/a", "")]
                acq = min(times) if times else "n/a"
            rows.append(f"{ses_dir.name}\t{acq}")
        text = "session_id\tacq_time\n" + "".join(f"{row}\n" for row in rows)
        atomic_write_text(sub_dir / f"sub-{participant}_sessions.tsv", text)

    # -- reading -------------------------------------------------------------

    def references(self) -> list[RecordingRef]:
        """List every recording in the dataset, sorted by labels."""
        return self._references("sub-*/ses-*/eeg/*")

    def _references(self, pattern: str) -> list[RecordingRef]:
        """The recordings among the headers ``pattern + '_eeg.vhdr'`` matches, sorted."""
        refs = []
        for vhdr in sorted(self.root.glob(f"{pattern}_eeg.vhdr")):
            match = _HEADER_RE.fullmatch(vhdr.name)
            # A header whose name does not follow the layout, or that sits in another
            # participant's or session's folder, is not a recording of this dataset.
            if (
                match is None
                or vhdr.parents[2].name != f"sub-{match['sub']}"
                or vhdr.parents[1].name != f"ses-{match['ses']}"
            ):
                continue
            run = match["run"] or "1"
            if len(run) > len(str(MAX_RUN)) or not 1 <= int(run) <= MAX_RUN:
                raise DatasetError(
                    f"{vhdr} has the run number {run}, beyond {MAX_RUN}; rename its files with "
                    f"a run number from 1 to {MAX_RUN} (it was not written by eeg4students)."
                )
            refs.append(
                RecordingRef(
                    participant=match["sub"],
                    session=match["ses"],
                    task=match["task"],
                    run=int(run),
                    path=vhdr,
                )
            )
        return refs

    @staticmethod
    def files_of(ref: RecordingRef) -> list[Path]:
        """Every file that holds part of a recording (data, header, events, channels)."""
        stem = ref.path.name[: -len("_eeg.vhdr")]
        return sorted(p for p in ref.path.parent.glob(f"{stem}_*") if p.is_file())

    def participants(self) -> list[str]:
        """Return the participant labels (without ``sub-``), sorted."""
        return sorted({ref.participant for ref in self.references()})

    def sessions(self, participant: str) -> list[str]:
        """Return a participant's session labels, sorted."""
        self._check_participant(participant)
        return sorted({ref.session for ref in self.references() if ref.participant == participant})

    def _check_participant(self, participant: str) -> None:
        if participant not in self.participants():
            raise DatasetError(
                f"{self.root} has no participant {participant!r}; "
                f"it has: {', '.join(self.participants()) or 'none'}."
            )

    def recordings(self) -> pd.DataFrame:
        """Describe every recording from its sidecars (no EEG is read).

        Returns
        -------
        table : pandas.DataFrame
            One row per recording: ``participant``, ``session``, ``task``,
            ``run``, ``duration_s``, ``n_channels`` (EEG), ``sfreq`` (Hz),
            ``device``, ``n_gaps``, ``gap_s``, ``max_clipped_share``,
            ``bad_channels``, ``source_file``, ``read_notes`` (what the
            reader noticed at import), ``interruption`` (why a recording
            stopped early, or empty), ``missing`` (files of the recording
            that are gone), ``notes`` (those, short, gaps, clipping, bad
            channels), ``attention`` (whether a note says something is wrong:
            not only, say, an unknown measurement date) and ``path``.
        """
        rows = []
        for ref in self.references():
            path = ref.path.with_suffix(".json")
            sidecar = read_sidecar(path)
            meta = read_meta(ref.path, sidecar)
            try:
                rows.append(_describe(ref, sidecar, meta))
            except (AttributeError, TypeError, ValueError) as exc:
                where = f"{path} or {meta_path(ref.path).name}"  # a value of either file
                raise DatasetError(
                    f"{where} is damaged ({first_line(exc)}); re-import the recording or restore "
                    "the file from a backup."
                ) from exc
        columns = [
            "participant",
            "session",
            "task",
            "run",
            "duration_s",
            "n_channels",
            "sfreq",
            "device",
            "n_gaps",
            "gap_s",
            "max_clipped_share",
            "bad_channels",
            "source_file",
            "read_notes",
            "interruption",
            "missing",
            "notes",
            "path",
        ]
        if not rows:
            return pd.DataFrame(columns=columns)
        table = pd.DataFrame(rows)
        median = table["duration_s"].median()
        table["notes"] = [_notes(row, median) for row in table.itertuples()]
        table["attention"] = [_needs_attention(row, median) for row in table.itertuples()]
        return table[[*columns[:-1], "attention", "path"]]

    def load(
        self, participant: str, session: str, task: str, run: int = 1, *, preload: bool = True
    ) -> mne.io.BaseRaw:
        """Read one recording back, with its annotations and bad channels.

        Parameters
        ----------
        participant, session, task : str
            BIDS labels.
        run : int
            Run number.
        preload : bool
            Load the samples into memory; False reads them from disk on
            demand (``raw.get_data(start=..., stop=...)``), for long recordings.

        Returns
        -------
        raw : mne.io.BaseRaw
            The recording, loaded, EEG in volts.

        Raises
        ------
        DatasetError
            If there is no such recording.
        """
        bids_path = self._bids_path(participant, session, task, int(run))
        if not bids_path.fpath.is_file():
            raise DatasetError(
                f"{self.root} has no recording sub-{participant} ses-{session} task-{task} "
                f"run-{run}; list them with `eeg4students dataset info {self.root}`."
            )
        return open_recording(bids_path, preload=preload)

    def summary(self) -> dict:
        """Count participants, sessions, recordings and hours of data.

        Returns
        -------
        summary : dict
            ``participants``, ``sessions`` (participant-session pairs),
            ``recordings`` (int), ``hours`` (float), ``channels`` and
            ``sfreqs`` (sorted lists of the distinct values).
        """
        table = self.recordings()
        return {
            "participants": int(table["participant"].nunique()),
            "sessions": int(table[["participant", "session"]].drop_duplicates().shape[0]),
            "recordings": len(table),
            "hours": round(float(table["duration_s"].sum()) / 3600, 3),
            "channels": sorted(int(n) for n in table["n_channels"].unique()),
            "sfreqs": sorted(float(s) for s in table["sfreq"].unique()),
        }


def open_recording(bids_path: BIDSPath, *, preload: bool = True) -> mne.io.BaseRaw:
    """Open a stored recording with its sidecars, checking what could be damaged.

    Parameters
    ----------
    bids_path : mne_bids.BIDSPath
        The recording (its ``.vhdr``) under a BIDS root.
    preload : bool
        Load the samples into memory.

    Returns
    -------
    raw : mne.io.BaseRaw
        EEG in volts, annotations from ``events.tsv``, bad channels from
        ``channels.tsv``, the device from the sidecar.

    Raises
    ------
    DatasetError
        If the sidecar is missing or damaged, the header names files outside
        its folder or missing files, the data file is shorter or longer than
        the sidecar says, or MNE cannot parse the files.
    """
    vhdr = bids_path.fpath
    sidecar = read_sidecar(vhdr.with_suffix(".json"))
    meta = read_meta(vhdr, sidecar)
    try:
        brainvision_files(vhdr)
        raw = read_raw_bids(bids_path, verbose="error")
        _check_length(raw, sidecar, vhdr)
        if preload:
            raw.load_data(verbose="error")
    except RecordingFormatError as exc:
        raise DatasetError(f"{exc} Re-import the recording or restore it.") from exc
    except Exception as exc:  # any failure to parse damaged files is the same fault
        raise DatasetError(
            f"{vhdr}: the recording or its sidecars (events, channels) cannot be read "
            f"({first_line(exc)}); re-import it or restore its files from a backup."
        ) from exc
    if isinstance(meta, dict) and meta.get("device"):
        with raw.info._unlock():
            raw.info["device_info"] = {"model": str(meta["device"])}
    return raw


def _check_length(raw: mne.io.BaseRaw, sidecar: dict, vhdr: Path) -> None:
    """Refuse a data file shorter or longer than its sidecar says (truncated or replaced)."""
    duration = sidecar.get("RecordingDuration")
    if not isinstance(duration, int | float):
        return
    expected = round(duration * raw.info["sfreq"]) + 1
    if abs(raw.n_times - expected) > 1:
        raise RecordingFormatError(
            vhdr,
            f"its data file holds {raw.n_times} samples but the sidecar says {expected}: the "
            "data file was truncated or replaced",
        )


def _describe(ref: RecordingRef, sidecar: dict, meta: dict) -> dict:
    """One row of :meth:`Dataset.recordings` from a recording's sidecar and toolkit facts."""
    clipped = {str(k): float(v) for k, v in meta.get("clipped_share", {}).items()}
    return {
        "participant": ref.participant,
        "session": ref.session,
        "task": ref.task,
        "run": ref.run,
        "duration_s": float(sidecar.get("RecordingDuration", float("nan"))),
        "n_channels": int(sidecar.get("EEGChannelCount", 0)),
        "sfreq": float(sidecar.get("SamplingFrequency", float("nan"))),
        "device": meta.get("device"),
        "n_gaps": int(meta.get("n_gaps", 0)),
        "gap_s": float(meta.get("gap_s", 0.0)),
        "clipped": clipped,
        "max_clipped_share": max(clipped.values(), default=0.0),
        "bad_channels": [str(c) for c in meta.get("bad_channels", [])],
        "source_file": meta.get("source_file"),
        "read_notes": [str(n) for n in meta.get("read_notes", [])],
        "interruption": str(meta.get("interruption") or ""),
        "missing": [
            name
            for name in _PARTS
            if not ref.path.with_name(ref.path.name.replace("_eeg.vhdr", name)).is_file()
        ],
        "path": ref.path,
    }


def meta_path(vhdr: Path) -> Path:
    """The toolkit's file of facts about a recording (``*_eeg4students.json``)."""
    return vhdr.with_name(vhdr.name.replace("_eeg.vhdr", META_SUFFIX))


def read_meta(vhdr: Path, sidecar: dict | None = None) -> dict:
    """What the toolkit learned of a recording at import or recording.

    Parameters
    ----------
    vhdr : Path
        The recording's ``*_eeg.vhdr``.
    sidecar : dict | None
        Its ``*_eeg.json`` already read: datasets made by earlier versions kept the
        facts there, under ``EEG4Students``.

    Returns
    -------
    meta : dict
        Device, source file hash, gaps, clipping, bad channels, reader
        notes, interruption... (empty for a recording without them).

    Raises
    ------
    DatasetError
        If the file is damaged.
    """
    path = meta_path(vhdr)
    if path.is_file():
        return read_sidecar(path)
    legacy = (sidecar or {}).get(_LEGACY_META_KEY, {})
    return legacy if isinstance(legacy, dict) else {}


def read_sidecar(path: Path) -> dict:
    """Read a JSON sidecar of the dataset, naming the file if it is missing or damaged.

    Parameters
    ----------
    path : Path
        The ``.json`` file.

    Returns
    -------
    content : dict

    Raises
    ------
    DatasetError
        If the file is missing, is not JSON, or is not a JSON object.
    """
    if not path.is_file():
        raise DatasetError(
            f"{path} is missing; re-import the recording or restore the file from a backup."
        )
    try:
        content = limited_json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise DatasetError(
            f"{path} is damaged ({first_line(exc)}); re-import the recording or restore the "
            "file from a backup."
        ) from exc
    if not isinstance(content, dict):
        raise DatasetError(f"{path} is damaged (not a JSON object); restore it from a backup.")
    return content


def read_tsv(path: Path) -> pd.DataFrame:
    """Read a BIDS TSV as text cells, naming the file if it is damaged.

    Parameters
    ----------
    path : Path
        The ``.tsv`` file.

    Returns
    -------
    table : pandas.DataFrame
        Every cell as text (``n/a`` kept as text).

    Raises
    ------
    DatasetError
        If the file cannot be parsed as a tab-separated table.
    """
    try:
        return pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise DatasetError(
            f"{path} is damaged ({first_line(exc)}); restore it from a backup."
        ) from exc


def read_participants(path: Path) -> pd.DataFrame:
    """Read a ``participants.tsv``, which must have its ``participant_id`` column.

    Raises
    ------
    DatasetError
        If the file is damaged or lacks the column (edited by hand, or by a
        spreadsheet that renamed it).
    """
    table = read_tsv(path)
    if "participant_id" not in table.columns:
        raise DatasetError(
            f"{path} has no participant_id column (its columns: "
            f"{', '.join(map(str, table.columns[:6])) or 'none'}); restore it from a backup."
        )
    return table


def add_participant_row(root: Path, row: dict[str, str]) -> None:
    """Add a row to ``root/participants.tsv`` unless the participant has one (atomically).

    Parameters
    ----------
    root : Path
        A BIDS dataset folder (or a staging folder laid out like one).
    row : dict
        Column -> text cell, with ``participant_id`` (``sub-P``); columns the
        table lacks are added, cells it lacks become ``n/a``.
    """
    path = Path(root) / "participants.tsv"
    table = read_participants(path) if path.is_file() else pd.DataFrame(columns=["participant_id"])
    if len(table) and (table["participant_id"] == row["participant_id"]).any():
        return
    table = pd.concat([table, pd.DataFrame([row], dtype=str)], ignore_index=True).fillna("n/a")
    atomic_write_text(path, table.to_csv(sep="\t", index=False))


def _tsv_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    """Read a BIDS TSV as its header and rows of text, without pandas.

    Used on the write path, which runs once per imported file: the csv module
    is about ten times quicker than pandas on these small tables.

    Raises
    ------
    DatasetError
        If the file is not UTF-8 text or a row is longer than the header
        (shorter rows are padded with empty cells, as pandas reads them).
    """
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            rows = [row for row in csv.reader(handle, delimiter="\t") if row]
    except (UnicodeDecodeError, csv.Error) as exc:
        raise DatasetError(
            f"{path} is damaged ({first_line(exc)}); restore it from a backup."
        ) from exc
    if not rows:
        return [], []
    header, body = rows[0], rows[1:]
    if any(len(row) > len(header) for row in body):
        raise DatasetError(
            f"{path} is damaged (a row longer than its header); restore it from a backup."
        )
    return header, [row + [""] * (len(header) - len(row)) for row in body]


def _tsv_column(path: Path, column: str) -> list[str]:
    """One column of a BIDS TSV as text; empty if the file has no such column."""
    header, rows = _tsv_rows(path)
    if column not in header:
        return []
    index = header.index(column)
    return [row[index] for row in rows]


#: Columns of ``participants.tsv`` that mne-bids fills from a recording's subject fields.
_MNE_BIDS_ATTRIBUTES = ("age", "sex", "hand", "weight", "height")
#: What ``participants.tsv`` may say of a participant, and the values allowed (BIDS).
ATTRIBUTES = {"sex": ("M", "F", "O", "n/a"), "hand": ("R", "L", "A", "n/a")}


#: The attributes ``participants.tsv`` may hold from the user (see :func:`check_attributes`).
ATTRIBUTE_NAMES = ("age", "sex", "hand")
#: First characters that make a spreadsheet read a cell as a formula.
FORMULA_LEADERS = ("=", "+", "-", "@")


def cell_problem(text: str) -> str | None:
    """What is wrong with a ``participants.tsv`` cell from outside, or None.

    A cell that a spreadsheet would run as a formula (starting with ``=``,
    ``+``, ``-`` or ``@``) or that holds digits of another script (``１５``,
    read as a number by some programs and not by others) is refused.
    """
    text = str(text)
    if text.startswith(FORMULA_LEADERS):
        return f"begins with {text[0]!r}, which a spreadsheet would run as a formula"
    if any(c.isdigit() and not c.isascii() for c in text):
        return "holds digits other than 0-9"
    return None


_AGE = re.compile(r"[0-9]{1,3}(\.[0-9]{1,2})?")


def plausible_age(text: str) -> bool:
    """Whether a cell is ``n/a`` or an age in years: plain ASCII digits, 0 to :data:`MAX_AGE`.

    Exponents (``1e-320``), signs, full-width digits (``１５``) and other
    scripts' digits are refused: a cell is read by people and spreadsheets.
    """
    text = str(text).strip()
    return text == "n/a" or (_AGE.fullmatch(text) is not None and float(text) <= MAX_AGE)


def check_attributes(attributes: dict) -> dict[str, str]:
    """Check participant attributes given by the user, as ``participants.tsv`` cells.

    Parameters
    ----------
    attributes : dict
        Any of ``age`` (years, 0-130), ``sex`` (M, F, O) and ``hand`` (R, L,
        A); None or "n/a" for unknown.

    Returns
    -------
    cells : dict of str
        The attributes as they will be written.

    Raises
    ------
    DatasetError
        If a name or a value is not one of those.
    """
    cells = {}
    for key, value in attributes.items():
        if value is None:
            continue
        text = str(value).strip()
        if key == "age":
            if not plausible_age(text):
                raise DatasetError(
                    f"The age {text!r} is not a number of years from 0 to {MAX_AGE} (digits, "
                    "e.g. 15 or 15.5)."
                )
        elif key in ATTRIBUTES:
            text = text.upper() if text != "n/a" else text
            if text not in ATTRIBUTES[key]:
                allowed = ", ".join(ATTRIBUTES[key])
                raise DatasetError(f"The {key} {value!r} is not one of {allowed}.")
        else:
            raise DatasetError(f"{key!r} is not a participant attribute; give age, sex or hand.")
        cells[key] = text
    return cells


@contextlib.contextmanager
def _dataset_lock(root: Path) -> Iterator[None]:
    """The dataset's lock, under which mne-bids' own per-file locks are redundant."""
    with locked(root / LOCK_NAME, on_first=lambda: clear_undo(root)), quick_writes():
        yield


@contextlib.contextmanager
def _without_subject_info(raw: mne.io.BaseRaw):
    """Hide the file header's subject fields (name, birthday, sex) while writing."""
    saved = raw.info.get("subject_info")
    with raw.info._unlock():
        raw.info["subject_info"] = None
    try:
        yield
    finally:
        with raw.info._unlock():
            raw.info["subject_info"] = saved


#: Files besides the header that every stored recording has.
_PARTS = ("_eeg.eeg", "_eeg.vmrk", "_channels.tsv")


#: Words of a reader's note that say a recording's data may be wrong (other notes inform).
_PROBLEM_WORDS = ("implausible", "cut off", "dropped", "lost", "duplicate", "out of order")


def _needs_attention(row, median_duration: float) -> bool:
    """Whether a recording's notes say something is wrong (not only informative notes)."""
    clipped = any(share > CLIPPED_SHARE for share in row.clipped.values())
    problems = any(word in note for note in row.read_notes for word in _PROBLEM_WORDS)
    return bool(
        row.missing
        or row.interruption
        or row.duration_s < SHORT_SHARE * median_duration
        or row.n_gaps
        or clipped
        or row.bad_channels
        or problems
    )


def _notes(row, median_duration: float) -> str:
    notes = []
    if row.missing:
        notes.append("INCOMPLETE: missing " + ", ".join(row.missing))
    if row.interruption:
        notes.append(f"interrupted ({row.interruption})")
    notes += list(row.read_notes)
    if row.duration_s < SHORT_SHARE * median_duration:
        notes.append(f"short ({row.duration_s:.1f} s)")
    if row.n_gaps:
        notes.append(f"{row.n_gaps} gap(s), {row.gap_s:.1f} s lost")
    clipped = [f"{ch} {share:.1%}" for ch, share in row.clipped.items() if share > CLIPPED_SHARE]
    if clipped:
        notes.append("clipped " + ", ".join(clipped))
    if row.bad_channels:
        notes.append("bad " + ", ".join(row.bad_channels))
    return "; ".join(notes)
