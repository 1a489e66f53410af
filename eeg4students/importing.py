"""Importing headset files into a dataset: one file, a list, or a whole folder.

Labels (participant, session, task, run) come from options or from the file
names through a pattern such as ``{participant}-{task}-{session}.csv``.
Two modes:

- **all or nothing** (:func:`read_all` then :func:`write_all`): every file is
  read and checked before anything is written; used for files named on the
  command line with their labels.
- **one file at a time** (:func:`import_each`): for a folder, a file that
  fails is reported and skipped, and nothing of it is left in the dataset;
  the others are imported.

Nothing starts a new interpreter per file. A folder of several new
participants is written by forked copies of the calling process (Linux; see
:func:`import_workers`), each into a staging dataset inside the target that
is then moved in one participant at a time; the files are the same as when
written one by one (mne-bids spends about 50 ms of Python per recording, which
only more processes shorten).
"""

from __future__ import annotations

import gc
import logging
import multiprocessing
import os
import re
import shutil
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import mne

from eeg4students._files import new_folder
from eeg4students.errors import EEG4StudentsError, first_line
from eeg4students.events import TASK_PREFIX, task_description
from eeg4students.io import detect_format, read_with_notes
from eeg4students.names import MAX_RUN
from eeg4students.store import Dataset, RecordingRef, check_attributes, check_label

log = logging.getLogger(__name__)

#: Fields a file-name pattern may hold, and what each matches.
PATTERN_FIELDS = {
    "participant": "[A-Za-z0-9]+",
    "session": "[A-Za-z0-9]+",
    "task": "[A-Za-z0-9]+",
    "run": "[0-9]+",
}
_FIELD_RE = re.compile(r"\{([^{}]*)\}")


class ImportPlanError(EEG4StudentsError):
    """A pattern, a folder or a set of labels that cannot make an import."""


@dataclass(frozen=True)
class ImportJob:
    """One file to import and the labels it gets.

    Attributes
    ----------
    path : Path
        The recording file.
    participant, session, task : str
        BIDS labels.
    run : int | None
        Run number; None takes the next free one.
    """

    path: Path
    participant: str
    session: str
    task: str
    run: int | None = None


@dataclass
class ImportResult:
    """What became of one file.

    Attributes
    ----------
    job : ImportJob
        The file and its labels.
    ref : RecordingRef | None
        Where it was stored; None if it failed.
    fmt : str | None
        The format it was read as.
    seconds : float
        Its duration (s).
    notes : list of str
        What the reader noticed (a cut-off last line, implausible units...).
    error : str | None
        Why it failed, one sentence; None if it was imported.
    """

    job: ImportJob
    ref: RecordingRef | None = None
    fmt: str | None = None
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    error: str | None = None


def compile_pattern(pattern: str) -> re.Pattern:
    """Turn a file-name pattern into a regular expression with named groups.

    Parameters
    ----------
    pattern : str
        Text with ``{participant}``, ``{session}``, ``{task}`` and ``{run}``
        fields and ``*`` wildcards (any characters but ``/``), matched against
        a file's path below the folder given, e.g.
        ``{participant}-{task}-{session}.csv`` or
        ``sub{participant}/{session}/*.txt``.

    Returns
    -------
    regex : re.Pattern
        Matches the whole relative path (with ``/`` separators).

    Raises
    ------
    ImportPlanError
        If a field is unknown or repeated.
    """
    parts, seen, end = [], set(), 0
    for match in _FIELD_RE.finditer(pattern):
        parts.append(_literal(pattern[end : match.start()]))
        name = match.group(1)
        if name not in PATTERN_FIELDS:
            raise ImportPlanError(
                f"The pattern {pattern!r} has an unknown field {{{name}}}; use "
                f"{', '.join('{' + f + '}' for f in PATTERN_FIELDS)}."
            )
        if name in seen:
            raise ImportPlanError(f"The pattern {pattern!r} has {{{name}}} twice.")
        seen.add(name)
        parts.append(f"(?P<{name}>{PATTERN_FIELDS[name]})")
        end = match.end()
    parts.append(_literal(pattern[end:]))
    return re.compile("".join(parts))


def _literal(text: str) -> str:
    return "[^/]*".join(re.escape(piece) for piece in text.split("*"))


def plan_import(
    paths: Sequence[str | Path],
    *,
    pattern: str | None = None,
    participant: str | None = None,
    session: str | None = None,
    task: str | None = None,
    run: int | None = None,
) -> tuple[list[ImportJob], list[Path]]:
    """Decide which files to import and the labels of each.

    Parameters
    ----------
    paths : sequence of str | Path
        Files, or folders searched (with their subfolders) for files the
        pattern matches.
    pattern : str | None
        File-name pattern (:func:`compile_pattern`); needed for folders.
    participant, session, task : str | None
        Labels for every file; each must come either from here or from the
        pattern.
    run : int | None
        First run number (files given one by one); None takes the next free.

    Returns
    -------
    jobs : list of ImportJob
        In the order given, folders' files sorted by path.
    unmatched : list of Path
        Files in the folders that the pattern does not match (left alone).

    Raises
    ------
    ImportPlanError
        If a path is missing, a folder is given without a pattern, a label is
        given twice or not at all, or no file matches.
    """
    regex = compile_pattern(pattern) if pattern else None
    fields = set(regex.groupindex) if regex else set()
    given = {"participant": participant, "session": session, "task": task}
    for name, value in given.items():
        if value is not None and name in fields:
            raise ImportPlanError(
                f"The {name} comes from the pattern and from --{name}; give it one way."
            )
        if value is None and name not in fields:
            raise ImportPlanError(
                f"No {name} label: give --{name}, or a --pattern with {{{name}}}."
            )
    if run is not None and "run" in fields:
        raise ImportPlanError("The run comes from the pattern and from --run; give it one way.")
    fixed = {k: check_label(k, v) for k, v in given.items() if v is not None}
    candidates: list[tuple[Path, str]] = []
    for raw_path in paths:
        path = Path(raw_path)
        if path.is_dir():
            if regex is None:
                raise ImportPlanError(
                    f"{path} is a folder; say which files to take and how their names give "
                    "the labels with --pattern, e.g. '{participant}-{task}-{session}.csv'."
                )
            files = sorted(p for p in path.rglob("*") if p.is_file())
            _refuse_links_out(path, files)
            candidates += [(p, p.relative_to(path).as_posix()) for p in files]
        elif path.exists():
            candidates.append((path, path.name))
        else:
            raise ImportPlanError(f"{path}: no such file or folder; check the path.")
    jobs, unmatched = [], []
    next_run = run
    for path, name in candidates:
        match = regex.fullmatch(name) if regex else None
        if regex is not None and match is None:
            unmatched.append(path)
            continue
        labels = dict(fixed)
        if match is not None:
            for key, value in match.groupdict().items():
                if key != "run":
                    labels[key] = check_label(key, value)
        this_run = int(match["run"]) if match is not None and "run" in fields else next_run
        if this_run is not None and not 1 <= this_run <= MAX_RUN:
            raise ImportPlanError(
                f"{path}: the run number {this_run} must be from 1 to {MAX_RUN}; rename the file "
                "or take the run from --run."
            )
        jobs.append(
            ImportJob(path, labels["participant"], labels["session"], labels["task"], this_run)
        )
        if next_run is not None:
            next_run += 1
    _refuse_case_twins([job.participant for job in jobs], "participant")
    if not jobs:
        where = ", ".join(str(p) for p in paths)
        raise ImportPlanError(
            f"No file in {where} matches the pattern {pattern!r}; check it against a file "
            "name (fields match letters and digits only)."
        )
    return jobs, unmatched


def _refuse_links_out(folder: Path, files: list[Path]) -> None:
    """Refuse a folder holding a link to a file outside it, before anything is read.

    A link to ``/etc/passwd`` in a folder of recordings is never opened (a
    reader's error could print what it holds).
    """
    inside = folder.resolve()
    for path in files:
        if not path.resolve().is_relative_to(inside):
            raise ImportPlanError(
                f"{path} is a link to a file outside {folder}; nothing was read. Copy the "
                "recording into the folder instead of linking it."
            )


def _refuse_case_twins(labels: Sequence[str], kind: str) -> None:
    """Refuse labels that differ only in case: their folders collide on macOS and Windows."""
    seen: dict[str, str] = {}
    for label in labels:
        other = seen.setdefault(label.lower(), label)
        if other != label:
            raise ImportPlanError(
                f"The {kind} labels {other!r} and {label!r} differ only in case; their folders "
                "would be one on macOS and Windows disks. Give them one spelling."
            )


def _read(job: ImportJob, fmt: str, options: dict) -> tuple[mne.io.BaseRaw, str, list[str]]:
    """Read one file for import: a file without block markers is one block of its task."""
    fmt = fmt if fmt != "auto" else detect_format(job.path)
    log.info("reading %s as %s", job.path, fmt)
    raw, notes = read_with_notes(job.path, fmt, **options)
    for note in notes:
        log.debug("%s: %s", job.path, note)
    if not any(d.startswith(TASK_PREFIX) for d in raw.annotations.description):
        raw.annotations.append(raw.first_time, raw.times[-1], task_description(job.task))
    return raw, fmt, notes


def _write(
    dataset: Dataset,
    job: ImportJob,
    raw: mne.io.BaseRaw,
    fmt: str,
    notes: list[str],
    attributes: dict,
    overwrite: bool,
    keep_source_name: bool = False,
) -> ImportResult:
    ref = dataset.add_recording(
        raw,
        job.participant,
        job.session,
        job.task,
        job.run,
        source=job.path,
        source_format=fmt,
        notes=notes,
        attributes=attributes,
        keep_source_name=keep_source_name,
        overwrite=overwrite,
    )
    seconds = raw.n_times / raw.info["sfreq"]
    log.info("stored %s as %s", job.path.name, ref.path.name)
    return ImportResult(job, ref, fmt, seconds, notes)


def read_all(
    jobs: Sequence[ImportJob], *, fmt: str = "auto", options: dict | None = None
) -> list[tuple[ImportJob, mne.io.BaseRaw, str, list[str]]]:
    """Read and check every file; raise on the first that cannot be imported.

    Parameters
    ----------
    jobs : sequence of ImportJob
        The files and their labels.
    fmt : str
        Format name, or ``"auto"``.
    options : dict | None
        Reader options (``board``, ``channels``...).

    Returns
    -------
    loaded : list of (job, raw, format, notes)
    """
    return [(job, *_read(job, fmt, options or {})) for job in jobs]


def write_all(
    dataset: Dataset,
    loaded: Sequence[tuple[ImportJob, mne.io.BaseRaw, str, list[str]]],
    *,
    attributes: dict | None = None,
    overwrite: bool = False,
    keep_source_name: bool = False,
) -> list[ImportResult]:
    """Write recordings read by :func:`read_all`, all or none (a run of None: the next free).

    ``attributes`` are the participant's (age, sex, hand); ``keep_source_name``
    also records each source file's name (see :meth:`Dataset.add_recording`).

    Returns
    -------
    results : list of ImportResult
    """
    attributes = check_attributes(attributes or {})
    sessions = [(job.participant, job.session) for job, *_ in loaded]
    # All or nothing: a write that fails (a full disk) takes the earlier ones back too.
    with dataset.lock(), dataset.writing(sessions):
        return [
            _write(dataset, job, raw, fmt, notes, attributes, overwrite, keep_source_name)
            for job, raw, fmt, notes in loaded
        ]


#: Most processes a folder import uses unless told (one per core up to this).
IMPORT_WORKERS = 4
#: Prefix of the staging folders parallel imports make inside the dataset.
STAGING_PREFIX = ".import-"


def import_workers(n_jobs: int | None = None) -> int:
    """How many processes a folder import may use.

    Workers are forked copies of this process, which already holds the
    libraries (a fresh interpreter would spend about 1.5 s importing them,
    more than most imports take); forking is only safe enough on Linux, so
    other systems import in this process.

    Parameters
    ----------
    n_jobs : int | None
        Processes asked for: None for one per core (at most
        :data:`IMPORT_WORKERS`), ``-1`` for every core, ``-2`` for all but
        one, and so on.

    Returns
    -------
    workers : int
        At least 1; 1 means this process alone.
    """
    if not sys.platform.startswith("linux") or (n_jobs is not None and n_jobs == 1):
        return 1
    cores = len(os.sched_getaffinity(0))
    if n_jobs is None:
        return max(1, min(cores, IMPORT_WORKERS))
    return max(1, cores + 1 + n_jobs if n_jobs < 0 else n_jobs)


def import_each(
    dataset: Dataset,
    jobs: Sequence[ImportJob],
    *,
    fmt: str = "auto",
    options: dict | None = None,
    attributes: dict[str, dict] | None = None,
    overwrite: bool = False,
    keep_source_name: bool = False,
    n_jobs: int | None = 1,
) -> Iterator[ImportResult]:
    """Import files one at a time; a file that fails is reported, not fatal.

    Parameters
    ----------
    dataset : Dataset
        Where to write.
    jobs : sequence of ImportJob
        The files and their labels.
    fmt : str
        Format name, or ``"auto"``.
    options : dict | None
        Reader options (``board``, ``channels``...).
    attributes : dict | None
        Participant label -> attributes (age, sex, hand) for
        ``participants.tsv``.
    overwrite : bool
        Replace recordings stored under the same labels.
    keep_source_name : bool
        Also record each source file's name (off: names can carry real names).
    n_jobs : int | None
        Processes (:func:`import_workers`). With more than one, participants
        new to the dataset are written by workers into a staging dataset
        inside ``dataset`` and moved in when each is complete; the others are
        written here meanwhile. The dataset ends the same either way, with
        ``participants.tsv`` sorted by participant.

    Yields
    ------
    result : ImportResult
        One per job: stored, or the one-sentence reason it was not (a failed
        file leaves nothing in the dataset). In the jobs' order with one
        process; with several, the jobs of participants the dataset already
        had come first, then each new participant's once they are moved in.
    """
    attributes = {p: check_attributes(a) for p, a in (attributes or {}).items()}
    settings = (fmt, options or {}, overwrite, keep_source_name)
    new = _new_participants(dataset, jobs)
    workers = min(import_workers(n_jobs), len(new))
    if workers < 2:
        yield from _import_here(dataset, jobs, attributes, *settings)
        dataset.sort_participants()
        return
    here = [job for job in jobs if job.participant not in new]
    with dataset.lock():
        staging = new_folder(dataset.root, STAGING_PREFIX)
        try:
            work = [
                (staging / p, [j for j in jobs if j.participant == p], attributes, *settings)
                for p in new
            ]
            # Frozen objects are left alone by the workers' garbage collector, so the
            # pages they share with this process are not copied.
            gc.freeze()
            try:
                pool = multiprocessing.get_context("fork").Pool(workers)
            finally:
                gc.unfreeze()
            with pool:
                done = pool.imap(_import_staged, work)
                yield from _import_here(dataset, here, attributes, *settings)
                for root, results in done:
                    yield from _move_in(dataset, root, results)
            dataset.sort_participants()
        finally:
            shutil.rmtree(staging, ignore_errors=True)


def _new_participants(dataset: Dataset, jobs: Sequence[ImportJob]) -> list[str]:
    """Participants of ``jobs`` the dataset neither has nor forgot, in the jobs' order."""
    labels = dict.fromkeys(job.participant for job in jobs)
    forgotten = dataset.forgotten() if len(labels) > 1 else {}
    return [p for p in labels if p not in forgotten and not (dataset.root / f"sub-{p}").exists()]


def _import_here(
    dataset: Dataset,
    jobs: Sequence[ImportJob],
    attributes: dict[str, dict],
    fmt: str,
    options: dict,
    overwrite: bool,
    keep_source_name: bool,
) -> Iterator[ImportResult]:
    """Import ``jobs`` in this process, in order."""
    for job in jobs:
        try:
            raw, this_fmt, notes = _read(job, fmt, options)
            yield _write(
                dataset,
                job,
                raw,
                this_fmt,
                notes,
                attributes.get(job.participant, {}),
                overwrite,
                keep_source_name,
            )
        except EEG4StudentsError as exc:
            yield ImportResult(job, error=str(exc))
        except OSError as exc:  # unreadable file, full disk: this file, not the others
            where = f"{exc.filename}: " if exc.filename else ""
            yield ImportResult(job, error=f"{where}{exc.strerror or exc}")


def _import_staged(work: tuple) -> tuple[Path, list[ImportResult]]:
    """In a worker: import one new participant's files into a staging dataset.

    Nobody else writes into it: its lock is held throughout and its tables
    are written once at the end (:meth:`Dataset.tidied_at_end`).
    """
    root, jobs, *rest = work
    staged = Dataset.create(root)
    results: list[ImportResult] = []
    try:
        with staged.tidied_at_end():
            results.extend(_import_here(staged, jobs, *rest))
    except (EEG4StudentsError, OSError) as exc:
        reason = f"its participant's tables could not be written: {first_line(exc)}"
        results = [ImportResult(r.job, error=r.error or reason) for r in results]
    return root, results


def _move_in(dataset: Dataset, root: Path, results: list[ImportResult]) -> Iterator[ImportResult]:
    """Move a participant written in a staging dataset into ``dataset``; say what became of it."""
    stored = [r for r in results if r.ref is not None]
    if stored:
        participant = stored[0].ref.participant
        try:
            dataset.adopt_participant(Dataset(root), participant)
        except (EEG4StudentsError, OSError) as exc:
            reason = f"it could not be moved into {dataset.root}: {exc}"
            results = [ImportResult(r.job, error=r.error or reason) for r in results]
        else:
            for result in stored:
                result.ref = replace(
                    result.ref, path=dataset.root / result.ref.path.relative_to(root)
                )
    yield from results
