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
``xdf``                   LabRecorder's XDF (Lab Streaming Layer), via pyxdf
========================  =====================================================
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Sequence
from pathlib import Path

import mne
import numpy as np

from eeg4students.errors import RecordingFormatError, RecordingNote
from eeg4students.io._raw import check_rate
from eeg4students.io._table import check_file
from eeg4students.io.brainflow_file import read_brainflow_file
from eeg4students.io.mne_formats import read_with_mne
from eeg4students.io.muse import read_mind_monitor, read_muse_lsl
from eeg4students.io.openbci import read_openbci_gui
from eeg4students.io.xdf import read_xdf
from eeg4students.names import FORMATS
from eeg4students.quality import bad_channels

#: A recording shorter than this (s) cannot hold one analysis window.
MIN_SECONDS = 2.0


__all__ = [
    "FORMATS",
    "detect_format",
    "read_brainflow_file",
    "read_mind_monitor",
    "read_muse_lsl",
    "read_openbci_gui",
    "read_recording",
    "read_with_notes",
    "read_xdf",
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
    if head.startswith(b"XDF:"):
        return "xdf"
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


def read_recording(
    path: str | Path,
    fmt: str = "auto",
    *,
    channels: Sequence[str] | None = None,
    **options,
) -> mne.io.BaseRaw:
    """Read a recording in any supported format.

    Parameters
    ----------
    path : str | Path
        The file.
    fmt : str
        ``"auto"`` to recognise it from its content, or one of
        :data:`FORMATS`.
    channels : sequence of str | None
        Names for the EEG channels, in the file's order (OpenBCI files only
        carry generic names). Their number must match the file's EEG
        channels; for OpenBCI files that do not say, it gives the count.
    **options
        Passed to the format's reader, e.g. ``board="muse_2"`` for BrainFlow
        files or ``n_channels=8`` for OpenBCI files.

    Returns
    -------
    raw : mne.io.BaseRaw
        EEG in volts, loaded into memory, with annotations. Channel types of
        EDF/BDF files come from their labels (``EEG Fp1``, ``ECG ECG``).
        Channels that are flat or railed are in ``info["bads"]``.

    Raises
    ------
    RecordingFormatError
        If the file cannot be read, or what it holds is not a usable
        recording (no EEG channel, a sampling rate outside 20 Hz - 100 kHz,
        shorter than :data:`MIN_SECONDS`, NaN or infinite values); the
        message names the file, the line or column where that applies, and
        what is wrong.

    Warns
    -----
    RecordingNote
        For what is read but worth a look: a cut-off last line left out,
        an unknown measurement date, columns left out, implausible units.
    """
    path = Path(path)
    if fmt == "auto":
        fmt = detect_format(path)
    if fmt not in FORMATS:
        raise RecordingFormatError(
            path, f"unknown format {fmt!r}; use one of auto, {', '.join(FORMATS)}"
        )
    names = _check_names(path, channels) if channels is not None else None
    readers = {
        "muse-lsl": read_muse_lsl,
        "mind-monitor": read_mind_monitor,
        "openbci": read_openbci_gui,
        "brainflow": read_brainflow_file,
        "xdf": read_xdf,
    }
    if fmt == "openbci" and names is not None:
        options = {**options, "ch_names": names}
        names = None
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
        if fmt in ("edf", "bdf"):
            options = {"infer_types": True, **options}
        raw = read_with_mne(path, fmt, **options)
        if not raw.info["bads"]:
            raw.info["bads"] = _flat_or_railed_eeg(raw)
    if names is not None:
        _rename_eeg(path, raw, names)
    check_recording(path, raw)
    _note_units(path, raw)
    return raw


def _check_names(path: Path, channels: Sequence[str]) -> list[str]:
    """Channel names given by the user, checked: non-empty, printable, distinct."""
    names = [str(c).strip() for c in channels]
    for name in names:
        if not name or not name.isprintable() or len(name) > 32:
            raise RecordingFormatError(
                path, f"{name!r} is not a channel name (1-32 printable characters)"
            )
    if len(set(names)) != len(names):
        twice = next(n for n in names if names.count(n) > 1)
        raise RecordingFormatError(path, f"the channel name {twice!r} is given twice")
    return names


def _rename_eeg(path: Path, raw: mne.io.BaseRaw, names: list[str]) -> None:
    """Give the EEG channels of ``raw`` the user's names, in order."""
    eeg = [raw.ch_names[i] for i in mne.pick_types(raw.info, eeg=True, exclude=[])]
    if len(names) != len(eeg):
        raise RecordingFormatError(
            path,
            f"{len(names)} channel names were given but it has {len(eeg)} EEG channels "
            f"({', '.join(eeg)})",
        )
    clash = sorted(set(names) & (set(raw.ch_names) - set(eeg)))
    if clash:
        raise RecordingFormatError(
            path, f"the name {clash[0]!r} is already taken by one of its non-EEG channels"
        )
    mapping = dict(zip(eeg, names, strict=True))
    raw.rename_channels(mapping)


def _flat_or_railed_eeg(raw: mne.io.BaseRaw) -> list[str]:
    """EEG channels of a file read by MNE that are flat or sit at their extremes."""
    bads = []
    for pick in mne.pick_types(raw.info, eeg=True, exclude=[]):
        row = raw.get_data(picks=[pick]) * 1e6
        bads += bad_channels(row, [raw.ch_names[pick]])
    return bads


#: EEG whose level (median, V) or spread (median absolute deviation, V) passes
#: this was stored in another unit than its header says: an amplifier's
#: offset stays below 0.2 V, brain signals below 1 mV.
_TOO_LARGE_V = 1.0
#: EEG that varies, but by less than this (V), was stored in volts and read as
#: microvolts (or the reverse scaling was applied twice).
_TOO_SMALL_V = 1e-9


def _note_units(path: Path, raw: mne.io.BaseRaw) -> None:
    """Note EEG values that are implausible in volts: a unit mix-up in the file."""
    picks = mne.pick_types(raw.info, eeg=True, exclude=[])  # flat-looking ones too
    if not len(picks):
        return
    step = max(1, raw.n_times // 100_000)
    data = raw.get_data(picks=picks)[:, ::step]
    level = np.median(data, axis=1)
    spread = np.median(np.abs(data - level[:, None]), axis=1)
    if np.median(np.abs(level)) > _TOO_LARGE_V or np.median(spread) > _TOO_LARGE_V / 10:
        warnings.warn(
            RecordingNote(
                path,
                f"its EEG values are implausibly large (channel medians "
                f"{np.abs(level).min():.3g} to {np.abs(level).max():.3g} V): the file probably "
                "stores microvolts where volts are expected; check the units before analysis",
            ),
            stacklevel=3,
        )
    elif np.all(spread < _TOO_SMALL_V) and np.any(np.ptp(data, axis=1) > 0):
        warnings.warn(
            RecordingNote(
                path,
                f"its EEG values are implausibly small (varying by less than "
                f"{_TOO_SMALL_V * 1e6:g} uV): the file probably stores volts where microvolts "
                "are expected; check the units before analysis",
            ),
            stacklevel=3,
        )


def read_with_notes(
    path: str | Path, fmt: str = "auto", **options
) -> tuple[mne.io.BaseRaw, list[str]]:
    """Read a recording and collect its notes instead of issuing them as warnings.

    Parameters
    ----------
    path : str | Path
        The file.
    fmt : str
        As for :func:`read_recording`.
    **options
        As for :func:`read_recording`.

    Returns
    -------
    raw : mne.io.BaseRaw
        The recording.
    notes : list of str
        What is worth a look (:class:`~eeg4students.errors.RecordingNote`),
        each a sentence fragment without the file name. Library warnings
        (pandas, MNE) are not the user's business and are dropped.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        raw = read_recording(path, fmt, **options)
    notes = []
    for item in caught:
        if isinstance(item.message, RecordingNote) and item.message.note not in notes:
            notes.append(item.message.note)
    return raw, notes


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
