"""Where things are in a dataset: labels, recordings' file names, the audit log.

Recordings are found by globbing their headers and checking each name
against the layout (a header in the wrong folder, or with a run number no
one could have written, is not a recording of the dataset); mne-bids'
``find_matching_paths`` would read every file name of the tree and check
none of that, so listing stays here. Paths of new recordings are mne-bids'
``BIDSPath``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from mne_bids import BIDSPath

from eeg4students import _json as limited_json
from eeg4students.errors import DatasetError, LabelError, first_line
from eeg4students.names import MAX_RUN
from eeg4students.store.transaction import LOCK_NAME

#: A BIDS label: letters and digits.
LABEL = r"[A-Za-z0-9]+"
_LABEL_RE = re.compile(LABEL)
#: The stem of a recording's files: sub-P_ses-S_task-T[_run-R].
RECORDING_STEM = (
    rf"sub-(?P<sub>{LABEL})_ses-(?P<ses>{LABEL})_task-(?P<task>{LABEL})(?:_run-(?P<run>[0-9]+))?"
)
_HEADER_RE = re.compile(rf"{RECORDING_STEM}_eeg\.vhdr")
#: The forgetting audit log (written by :mod:`eeg4students.unlearning.audit`).
AUDIT_LOG = Path("derivatives") / "eeg4students" / "audit" / "forget-log.jsonl"
#: What the toolkit learned of a recording (source, device, gaps, notes) is kept
#: in this file beside it, listed in ``.bidsignore``: BIDS validators accept it,
#: where a custom key in ``*_eeg.json`` fails the older validator's schema.
META_SUFFIX = "_eeg4students.json"
#: Lines of ``.bidsignore``: the toolkit's files that are not part of BIDS.
BIDSIGNORE = (f"*{META_SUFFIX}", LOCK_NAME)


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
            if kind == "participant"
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

    @property
    def stem(self) -> str:
        """The recording's id: its files' common stem (``sub-P_ses-S_task-T_run-R``)."""
        return self.path.name[: -len("_eeg.vhdr")]


def bids_path(root: Path, participant: str, session: str, task: str, run: int) -> BIDSPath:
    """The mne-bids path of a recording's header."""
    return BIDSPath(
        subject=participant,
        session=session,
        task=task,
        run=run,
        datatype="eeg",
        suffix="eeg",
        extension=".vhdr",
        root=root,
    )


def find_recordings(root: Path, pattern: str = "sub-*/ses-*/eeg/*") -> list[RecordingRef]:
    """The recordings among the headers ``pattern + '_eeg.vhdr'`` matches under ``root``, sorted.

    Raises
    ------
    DatasetError
        If a header carries a run number beyond :data:`~eeg4students.names.MAX_RUN`.
    """
    refs = []
    for vhdr in sorted(Path(root).glob(f"{pattern}_eeg.vhdr")):
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
        refs.append(RecordingRef(match["sub"], match["ses"], match["task"], int(run), vhdr))
    return refs


def recording_files(ref: RecordingRef) -> list[Path]:
    """Every file that holds part of a recording (data, header, events, channels)."""
    return sorted(p for p in ref.path.parent.glob(f"{ref.stem}_*") if p.is_file())


def meta_path(vhdr: Path) -> Path:
    """The toolkit's file of facts about a recording (``*_eeg4students.json``)."""
    return vhdr.with_name(vhdr.name.replace("_eeg.vhdr", META_SUFFIX))


def audit_entries(root: Path, error: type[Exception] = DatasetError) -> list[dict]:
    """Every entry of a dataset's audit log, oldest first (empty if there is none).

    Parameters
    ----------
    root : Path
        The dataset.
    error : exception class
        Raised, naming the file and line, for a line that is not a JSON object.

    Returns
    -------
    entries : list of dict
    """
    path = Path(root) / AUDIT_LOG
    if not path.is_file():
        return []
    entries = []
    text = path.read_bytes().decode("utf-8", errors="replace")
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entry = limited_json.loads(line)
        except ValueError as exc:
            raise error(
                f"{path}, line {number}: not valid JSON ({first_line(exc)}); the log was edited "
                f"(check it with `eeg4students audit verify {root}`)."
            ) from exc
        if not isinstance(entry, dict):
            raise error(
                f"{path}, line {number}: not an audit entry; the log was edited (check it with "
                f"`eeg4students audit verify {root}`)."
            )
        entries.append(entry)
    return entries


def check_case(root: Path, participant: str, session: str, task: str) -> None:
    """Refuse labels that differ from ones the dataset has only in case.

    ``sub-Ab`` and ``sub-aB`` are two folders on Linux and one on the
    disks of macOS and Windows, where copying the dataset would merge them.

    Raises
    ------
    DatasetError
        Naming both labels.
    """
    where = [(root, f"sub-{participant}", "participant")]
    where.append((root / f"sub-{participant}", f"ses-{session}", "session"))
    for folder, name, kind in where:
        if not folder.is_dir():
            continue
        for entry in folder.iterdir():
            if entry.name != name and entry.name.lower() == name.lower():
                raise DatasetError(
                    f"{root} has {entry.name}, which differs from the {kind} label "
                    f"{name} only in case; their folders would be one on macOS and Windows "
                    "disks. Use the dataset's spelling."
                )
    for ref in find_recordings(root, f"sub-{participant}/ses-{session}/eeg/*"):
        if ref.task != task and ref.task.lower() == task.lower():
            raise DatasetError(
                f"{root} has task {ref.task!r} for sub-{participant} ses-{session}, "
                f"which differs from {task!r} only in case; use the dataset's spelling."
            )
