"""The dataset object: a BIDS folder of EEG recordings, written and read with mne-bids.

The layout is described in :mod:`eeg4students.store`; this module holds
:class:`Dataset`, which writes recordings (each write one
:class:`~eeg4students.store.transaction.Transaction`: undone if it fails),
moves participants in, lists and reads recordings back, and refuses labels
of participants who withdrew.
"""

from __future__ import annotations

import contextlib
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import mne
import pandas as pd
from mne_bids import make_dataset_description, write_raw_bids

from eeg4students._files import atomic_write_bytes, atomic_write_text, sha256
from eeg4students.errors import DatasetError
from eeg4students.names import MAX_RUN
from eeg4students.quality import device_model, recording_quality
from eeg4students.store.listing import describe_recordings
from eeg4students.store.participants import (
    add_participant_row,
    check_attributes,
    read_participants,
    set_attributes,
    sort_participants,
    take_attributes,
)
from eeg4students.store.paths import (
    AUDIT_LOG,
    RecordingRef,
    audit_entries,
    bids_path,
    check_case,
    check_label,
    find_recordings,
    recording_files,
)
from eeg4students.store.sidecars import (
    TASK_FIELDS,
    describe_dataset,
    drop_placeholder_authors,
    ensure_bidsignore,
    open_recording,
    without_subject_info,
    write_sidecar_extras,
)
from eeg4students.store.tables import tsv_column
from eeg4students.store.transaction import LOCK_NAME, Transaction, dataset_lock

#: Files at the top of a dataset that writes may change.
SHARED_FILES = (
    "participants.tsv",
    "participants.json",
    "README",
    "README.md",
    ".bidsignore",
    "dataset_description.json",
)


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
        with dataset_lock(root):
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
        with self.lock():
            return describe_dataset(self.root, name=name, authors=authors, license=license)

    def _drop_placeholder_authors(self) -> None:
        drop_placeholder_authors(self.root)

    def _ensure_bidsignore(self) -> None:
        ensure_bidsignore(self.root)

    # -- writing -------------------------------------------------------------

    def lock(self):
        """Hold the dataset's lock (a context manager; reentrant within a process).

        Every command that adds, changes or removes participants, recordings,
        features or models holds it, so commands running at once take turns.
        While it is held, mne-bids takes no lock file per file it touches
        (:func:`~eeg4students._mne_bids_quick.quick_writes`).
        """
        return dataset_lock(self.root)

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
        found = {}
        for entry in audit_entries(self.root):
            if entry.get("action") != "forget":
                continue
            try:
                found[str(entry["participant"])] = {"seq": entry["seq"], "time": entry["time"]}
            except KeyError as exc:
                raise DatasetError(
                    f"{self.root / AUDIT_LOG}: a forget entry lacks {exc}; the log was edited "
                    f"(check it with `eeg4students audit verify {self.root}`)."
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
        taken = {ref.run for ref in find_recordings(self.root, stem) if ref.task == task}
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
            check_case(self.root, participant, session, task)
            if run is None:
                run = self.next_run(participant, session, task)
            if not 1 <= int(run) <= MAX_RUN:
                raise DatasetError(f"The run number {run} must be from 1 to {MAX_RUN}.")
            path = bids_path(self.root, participant, session, task, int(run))
            if path.fpath.exists() and not overwrite:
                raise DatasetError(
                    f"{self.root} already has sub-{participant} ses-{session} task-{task} "
                    f"run-{run}; give another --run or replace it with --overwrite."
                )
            with self.writing([(participant, session)]), without_subject_info(raw):
                # mne-bids refuses a participant whose row differs from the recording's
                # (empty) subject fields: blank the row while it writes, then put it back.
                self._ensure_bidsignore()
                kept = take_attributes(self.root, participant)
                write_raw_bids(
                    raw,
                    path,
                    format="BrainVision",
                    allow_preload=True,
                    overwrite=overwrite,
                    verbose="error",
                )
                write_sidecar_extras(path.fpath, meta, task_fields)
                if self._untidy is None:
                    self._drop_placeholder_authors()
                    self.refresh_sessions_tsv(participant)
                else:
                    self._untidy.add(participant)
                if kept or attributes:
                    set_attributes(self.root, participant, {**kept, **attributes})
        return RecordingRef(participant, session, task, int(run), path.fpath)

    @contextlib.contextmanager
    def writing(self, sessions: Iterable[tuple[str, str]]) -> Iterator[None]:
        """Undo every file change of writes into these sessions, and of shared files, on error.

        A recording's write touches only the dataset's shared files, the
        participant's own top-level files (``sessions.tsv``) and its session's
        folder, so only those are protected: the cost does not grow with the
        participant's other sessions. mne-bids rewrites its tables in place,
        so they are copied; of the sessions' other files only the names are
        kept (nothing else in them changes). Used around one recording by
        :meth:`add_recording` and around a whole import by
        :func:`eeg4students.importing.write_all`; hold the lock around it.

        Parameters
        ----------
        sessions : iterable of (participant, session)
            Where the block writes.

        Raises
        ------
        DatasetError
            When the block fails (the dataset is then as it was).
        """
        tables = [self.root / name for name in SHARED_FILES]
        added = []
        for participant, session in dict.fromkeys(sessions):
            sub_dir = self.root / f"sub-{participant}"
            session_dir = sub_dir / f"ses-{session}"
            tables.append(sub_dir / f"sub-{participant}_sessions.tsv")
            if sub_dir.is_dir():
                tables += [p for p in sub_dir.iterdir() if p.is_file()]
            else:
                added.append(sub_dir)
            if session_dir.is_dir():
                tables += [p for p in session_dir.rglob("*") if p.suffix in (".tsv", ".json")]
            added.append(session_dir)
        try:
            with Transaction(self.root) as change:
                change.protect(*dict.fromkeys(tables), how="copy")
                change.protect(*dict.fromkeys(added), how="added")
                yield
        except Exception as exc:
            if isinstance(exc, DatasetError):
                raise
            raise DatasetError(f"Writing into {self.root} failed and was undone: {exc}") from exc

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
        with self.lock(), Transaction(self.root) as change:
            self.check_not_forgotten(participant)
            if target.exists():
                raise DatasetError(f"{self.root} already has participant {participant!r}.")
            shared = [
                self.root / name for name in ("participants.tsv", "participants.json", "README")
            ]
            change.protect(*shared, how="copy")
            for path in shared[1:]:
                if not path.exists() and (staging.root / path.name).is_file():
                    atomic_write_bytes(path, (staging.root / path.name).read_bytes())
            change.move(source, target)
            add_participant_row(self.root, row)

    def sort_participants(self) -> None:
        """Rewrite ``participants.tsv`` sorted by participant (atomically, under the lock)."""
        with self.lock():
            sort_participants(self.root)

    def refresh_sessions_tsv(self, participant: str) -> None:
        """Rewrite ``sub-P_sessions.tsv`` from the participants' scans files."""
        sub_dir = self.root / f"sub-{participant}"
        rows = []
        for ses_dir in sorted(sub_dir.glob("ses-*")):
            scans = next(ses_dir.glob("*_scans.tsv"), None)
            acq = "n/a"
            if scans is not None:
                times = [t for t in tsv_column(scans, "acq_time") if t not in ("n/a", "")]
                acq = min(times) if times else "n/a"
            rows.append(f"{ses_dir.name}\t{acq}")
        text = "session_id\tacq_time\n" + "".join(f"{row}\n" for row in rows)
        atomic_write_text(sub_dir / f"sub-{participant}_sessions.tsv", text)

    # -- reading -------------------------------------------------------------

    def references(self) -> list[RecordingRef]:
        """List every recording in the dataset, sorted by labels."""
        return find_recordings(self.root)

    #: Every file that holds part of a recording (:func:`.paths.recording_files`).
    files_of = staticmethod(recording_files)

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
        return describe_recordings(self.references())

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
        path = bids_path(self.root, participant, session, task, int(run))
        if not path.fpath.is_file():
            raise DatasetError(
                f"{self.root} has no recording sub-{participant} ses-{session} task-{task} "
                f"run-{run}; list them with `eeg4students dataset info {self.root}`."
            )
        return open_recording(path, preload=preload)

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
