"""The recordings table of ``dataset info``: every recording described from its sidecars.

No EEG is read: durations, channels, rate, device, gaps, clipping, bad
channels and reader notes come from ``*_eeg.json`` and the toolkit's
``*_eeg4students.json``, and each recording gets the notes a person should
read (missing files, interruptions, short recordings, gaps, clipping above
:data:`~eeg4students.quality.CLIPPED_SHARE`, bad channels).
"""

from __future__ import annotations

import pandas as pd

from eeg4students.errors import DatasetError, first_line
from eeg4students.quality import CLIPPED_SHARE
from eeg4students.store.paths import RecordingRef, meta_path
from eeg4students.store.sidecars import read_meta, read_sidecar

#: A recording shorter than this share of the dataset's median is "short".
SHORT_SHARE = 0.5
#: The table's columns, in order.
COLUMNS = [
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
    "attention",
    "path",
]


def describe_recordings(refs: list[RecordingRef]) -> pd.DataFrame:
    """Describe recordings from their sidecars (see :meth:`Dataset.recordings`).

    Raises
    ------
    DatasetError
        If a sidecar is missing or damaged.
    """
    rows = []
    for ref in refs:
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
    if not rows:
        return pd.DataFrame(columns=[c for c in COLUMNS if c != "attention"])
    table = pd.DataFrame(rows)
    median = table["duration_s"].median()
    table["notes"] = [_notes(row, median) for row in table.itertuples()]
    table["attention"] = [_needs_attention(row, median) for row in table.itertuples()]
    return table[COLUMNS]


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
