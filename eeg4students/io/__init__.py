"""Reading recordings from consumer headsets and standard EEG formats.

:func:`read_recording` opens any supported file into an ``mne.io.Raw`` with
EEG in volts, the right channel names and types, sampling rate, measurement
date and annotations (markers, and ``BAD_gap`` where samples were lost).
The format is recognised from the file's content, not only its name.

========================  =====================================================
format name               what it is
========================  =====================================================
``muse-lsl``              CSV from ``muse-lsl record``
``mind-monitor``          CSV exported by the Mind Monitor app
``openbci``               OpenBCI GUI ``OpenBCI-RAW-*.txt`` (old and v5/v6)
``brainflow``             BrainFlow ``DataFilter.write_file`` (needs ``board=``)
``edf`` / ``bdf``         European Data Format / BioSemi, via MNE
``brainvision``           BrainVision ``.vhdr``, via MNE
``fif``                   MNE's own FIF, via MNE
========================  =====================================================
"""

from __future__ import annotations

import inspect
from pathlib import Path

import mne
import numpy as np

from eeg4students.errors import RecordingFormatError
from eeg4students.io._raw import check_rate
from eeg4students.io._table import check_file
from eeg4students.io.brainflow_file import read_brainflow_file
from eeg4students.io.mne_formats import read_with_mne
from eeg4students.io.muse import read_mind_monitor, read_muse_lsl
from eeg4students.io.openbci import read_openbci_gui

#: A recording shorter than this (s) cannot hold one analysis window.
MIN_SECONDS = 2.0

FORMATS = (
    "muse-lsl",
    "mind-monitor",
    "openbci",
    "brainflow",
    "edf",
    "bdf",
    "brainvision",
    "fif",
)

__all__ = [
    "FORMATS",
    "detect_format",
    "read_brainflow_file",
    "read_mind_monitor",
    "read_muse_lsl",
    "read_openbci_gui",
    "read_recording",
]


def _is_numbers(fields: list[str]) -> bool:
    try:
        [float(f) for f in fields]
    except ValueError:
        return False
    return len(fields) > 1


def detect_format(path: str | Path) -> str:
    """Tell a recording's format from its first bytes.

    Parameters
    ----------
    path : str | Path
        The file.

    Returns
    -------
    fmt : str
        One of :data:`FORMATS`.

    Raises
    ------
    RecordingFormatError
        If the file is missing, empty, or in no known format.
    """
    path = Path(path)
    check_file(path)
    with path.open("rb") as fh:
        head = fh.read(8192)
    if head.startswith(b"\xffBIOSEMI"):
        return "bdf"
    if head[:8] == b"0       ":
        return "edf"
    if b"Vision Data Exchange Header File" in head[:80]:
        return "brainvision"
    if head[:4] == b"\x00\x00\x00\x64" or path.name.endswith((".fif", ".fif.gz")):
        return "fif"
    first = head.decode("utf-8", errors="replace").lstrip("\ufeff").splitlines()[0].strip()
    if first.startswith("%") and "openbci" in first.lower():
        return "openbci"
    columns = [c.strip() for c in first.split(",")]
    if "timestamps" in columns and "TP9" in columns:
        return "muse-lsl"
    if "TimeStamp" in columns and "RAW_TP9" in columns:
        return "mind-monitor"
    if _is_numbers(first.split("\t")):
        return "brainflow"
    raise RecordingFormatError(
        path,
        "is in no format this toolkit knows (the first line is "
        f"{first[:60]!r}); name the format with --format, one of {', '.join(FORMATS)}",
    )


def read_recording(path: str | Path, fmt: str = "auto", **options) -> mne.io.BaseRaw:
    """Read a recording in any supported format.

    Parameters
    ----------
    path : str | Path
        The file.
    fmt : str
        ``"auto"`` to recognise it from its content, or one of
        :data:`FORMATS`.
    **options
        Passed to the format's reader, e.g. ``board="muse_2"`` for BrainFlow
        files or ``ch_names=[...]`` for OpenBCI files.

    Returns
    -------
    raw : mne.io.BaseRaw
        EEG in volts, loaded into memory, with annotations.

    Raises
    ------
    RecordingFormatError
        If the file cannot be read, or what it holds is not a usable
        recording (no EEG channel, a sampling rate outside 20 Hz - 100 kHz,
        shorter than :data:`MIN_SECONDS`, NaN or infinite values); the
        message names the file, the line or column where that applies, and
        what is wrong.
    """
    path = Path(path)
    if fmt == "auto":
        fmt = detect_format(path)
    if fmt not in FORMATS:
        raise RecordingFormatError(
            path, f"unknown format {fmt!r}; use one of auto, {', '.join(FORMATS)}"
        )
    readers = {
        "muse-lsl": read_muse_lsl,
        "mind-monitor": read_mind_monitor,
        "openbci": read_openbci_gui,
        "brainflow": read_brainflow_file,
    }
    if fmt in readers:
        reader = readers[fmt]
        accepted = inspect.signature(reader).parameters
        unknown = sorted(set(options) - set(accepted))
        if unknown:
            known = ", ".join(p for p in accepted if p != "path")
            raise RecordingFormatError(
                path, f"the {fmt} reader has no option {unknown[0]!r} (it takes: {known})"
            )
        raw = reader(path, **options)
    else:
        raw = read_with_mne(path, fmt, **options)
    check_recording(path, raw)
    return raw


def check_recording(path: Path, raw: mne.io.BaseRaw) -> None:
    """Refuse a recording that cannot be used, whatever its format.

    Parameters
    ----------
    path : Path
        The file it was read from (for messages).
    raw : mne.io.BaseRaw
        The recording, loaded.

    Raises
    ------
    RecordingFormatError
        If it has no channel, an implausible sampling rate, fewer samples
        than :data:`MIN_SECONDS` at its rate, or NaN or infinite values.
    """
    if not len(raw.ch_names):
        raise RecordingFormatError(path, "holds no channels")
    sfreq = check_rate(path, raw.info["sfreq"])
    seconds = raw.n_times / sfreq
    if seconds < MIN_SECONDS:
        raise RecordingFormatError(
            path,
            f"holds {raw.n_times} sample(s) ({seconds:.2f} s), too short for one "
            f"{MIN_SECONDS:g} s analysis window",
        )
    step = int(60 * sfreq)  # a minute at a time: no copy of a long recording
    for start in range(0, raw.n_times, step):
        finite = np.isfinite(raw.get_data(start=start, stop=start + step)).all(axis=1)
        if not finite.all():
            channel = raw.ch_names[int(np.argmin(finite))]
            raise RecordingFormatError(path, "holds NaN or infinite values", column=channel)
