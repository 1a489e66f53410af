"""Readers for Muse headband recordings: muse-lsl CSV and Mind Monitor CSV."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from eeg4students.errors import RecordingFormatError, RecordingNote
from eeg4students.io._raw import build_raw, estimate_sfreq, regular_grid
from eeg4students.io._table import numeric_columns, read_table

MUSE_EEG = ("TP9", "AF7", "AF8", "TP10")
MUSE_SFREQ = 256.0


def _marker_samples(cells: pd.Series) -> list[tuple[int, str]]:
    """Non-empty, non-zero marker cells as (row index, description)."""
    out = []
    for i, value in cells.items():
        if pd.isna(value):
            continue
        text = str(value).strip()
        try:
            number = float(text)
        except ValueError:
            number = None
        if text == "" or number == 0.0:
            continue
        if number is not None and number.is_integer():
            text = str(int(number))
        out.append((int(i), text))
    return out


#: How far (s) muse-lsl's timestamps may step back: LSL times chunks of samples
#: on arrival, so per-sample times jitter by a few samples' worth.
LSL_JITTER = 0.1
#: Timestamps below this (s) are LSL local-clock seconds (time since the
#: computer started), not Unix time: the date of the recording is unknown.
_UNIX_2001 = 1e9
#: Columns of a muse-lsl CSV that are read or known not to be EEG.
_MUSE_LSL_KNOWN = {"timestamps", *MUSE_EEG, "Right AUX"}
#: Columns holding event codes (muse-lsl writes ``Marker0``; scripts add others).
_STIM_RE = re.compile(r"^(marker|stim|trigger|event)", re.IGNORECASE)


def read_muse_lsl(
    path: str | Path,
    *,
    sfreq: float | None = MUSE_SFREQ,
    gap_threshold: float | None = None,
    jitter: float = LSL_JITTER,
):
    """Read a CSV written by ``muse-lsl record``.

    The columns are ``timestamps,TP9,AF7,AF8,TP10,Right AUX`` with an
    optional ``Marker0`` column; one row per sample, EEG in microvolts,
    timestamps in seconds of the LSL clock (Unix time in recent versions,
    the computer's uptime in older ones).

    Parameters
    ----------
    path : str | Path
        The CSV file.
    sfreq : float | None
        Nominal sampling rate in Hz (256 for every Muse). None estimates it
        from the timestamps.
    gap_threshold : float | None
        Samples lost for longer than this many seconds make a gap, filled and
        annotated ``BAD_gap``. Default: two sample periods.
    jitter : float
        How far (s) timestamps may step back and forth around the true sample
        times (LSL stamps chunks on arrival); a step back by more is refused as
        two recordings in one file. 0 takes the timestamps as exact.

    Returns
    -------
    raw : mne.io.RawArray
        EEG in volts (channels TP9, AF7, AF8, TP10), 256 Hz, samples on the
        regular grid; measurement date from the first timestamp when it is
        Unix time (else unknown, with a note); ``Marker*``, ``Stim*``,
        ``Trigger*`` and ``Event*`` columns as annotations. The ``Right AUX``
        input is left out (an unconnected input, not EEG); other columns are
        left out with a note naming them.
    """
    path = Path(path)
    table, first = read_table(path, what="muse-lsl CSV")
    columns = ["timestamps", *MUSE_EEG]
    values = numeric_columns(path, table, columns, first)
    timestamps = values[:, 0]
    rate = sfreq or estimate_sfreq(path, timestamps)
    threshold = gap_threshold if gap_threshold is not None else 2.0 / rate
    lines = first + np.arange(len(timestamps))
    positions, gaps = regular_grid(path, timestamps, rate, threshold, lines, jitter=jitter)
    markers = []
    stim = [c for c in table.columns if _STIM_RE.match(c)]
    for col in stim:
        markers += _marker_samples(table[col])
    ignored = [c for c in table.columns if c not in _MUSE_LSL_KNOWN and c not in stim]
    if ignored:
        warnings.warn(
            RecordingNote(path, f"columns left out (not EEG, not markers): {', '.join(ignored)}"),
            stacklevel=2,
        )
    start = timestamps[0]
    if start < _UNIX_2001:
        warnings.warn(
            RecordingNote(
                path,
                "its timestamps are LSL clock seconds, not dates: the measurement date is unknown",
            ),
            stacklevel=2,
        )
        start = None
    return build_raw(
        values[:, 1:].T,
        list(MUSE_EEG),
        ["eeg"] * 4,
        rate,
        positions=positions,
        gaps=gaps,
        markers=markers,
        start_time=start,
        device_model="muse",
    )


#: A time of day without a date, as spreadsheets rewrite Mind Monitor's time stamps.
_CLOCK_ONLY_RE = re.compile(r"^\d{1,2}:\d{2}(:\d{2})?([.,]\d+)?$")

MIND_MONITOR_RAW = tuple(f"RAW_{ch}" for ch in MUSE_EEG)


def read_mind_monitor(
    path: str | Path,
    *,
    sfreq: float | None = MUSE_SFREQ,
    gap_threshold: float = 0.1,
):
    """Read a CSV exported by the Mind Monitor app.

    Raw EEG is in the ``RAW_TP9 .. RAW_TP10`` columns (microvolts); rows
    with an ``Elements`` entry and no EEG are app events (markers, blinks,
    jaw clenches) and become annotations. ``TimeStamp`` is the phone's
    clock (``YYYY-MM-DD hh:mm:ss.fff``), read as UTC.

    Parameters
    ----------
    path : str | Path
        The CSV file (record with "Recording interval: constant" to get
        every raw sample).
    sfreq : float | None
        Nominal sampling rate in Hz (256). None estimates it.
    gap_threshold : float
        A step between timestamps longer than this (s) is a gap. Mind
        Monitor stamps samples in batches, so this is looser than for
        muse-lsl.

    Returns
    -------
    raw : mne.io.RawArray
        EEG in volts (TP9, AF7, AF8, TP10) with ``Elements`` as annotations.
    """
    path = Path(path)
    table, first = read_table(path, what="Mind Monitor CSV")
    if "TimeStamp" not in table.columns:
        raise RecordingFormatError(path, "has no 'TimeStamp' column; is this a Mind Monitor CSV?")
    cells = numeric_columns(path, table, list(MIND_MONITOR_RAW), first, allow_nan=True)
    empty = np.isnan(cells)
    has_eeg = ~empty.all(axis=1)
    if not has_eeg.any():
        raise RecordingFormatError(
            path,
            "has no raw EEG rows (RAW_TP9..RAW_TP10 are empty); export with "
            "'Recording interval: constant' to get the raw samples",
        )
    partial = has_eeg & empty.any(axis=1)
    if partial.any():
        i = int(np.argmax(partial))
        column = MIND_MONITOR_RAW[int(np.argmax(empty[i]))]
        raise RecordingFormatError(
            path, "the EEG cell is empty in a row that has EEG", line=first + i, column=column
        )
    stamps = pd.to_datetime(table["TimeStamp"], format="ISO8601", errors="coerce", utc=True)
    unparsed = stamps.isna() & table["TimeStamp"].notna()
    if unparsed.any():
        i = int(np.argmax(unparsed.to_numpy()))
        cell = str(table["TimeStamp"].iloc[i]).strip()
        if _CLOCK_ONLY_RE.match(cell):
            raise RecordingFormatError(
                path,
                f"the time stamp {cell!r} lost its date (a spreadsheet re-saved the file); "
                "use the CSV exactly as Mind Monitor exported it",
                line=first + i,
                column="TimeStamp",
            )
        raise RecordingFormatError(
            path,
            f"{cell!r} is not a date and time (Mind Monitor writes YYYY-MM-DD hh:mm:ss.fff)",
            line=first + i,
            column="TimeStamp",
        )
    seconds = (stamps - pd.Timestamp(0, tz="UTC")).dt.total_seconds().to_numpy()
    eeg_index = np.flatnonzero(has_eeg)
    values = cells[eeg_index]
    timestamps = seconds[eeg_index]
    if np.isnan(timestamps).any():
        i = int(eeg_index[np.argmax(np.isnan(timestamps))])
        raise RecordingFormatError(path, "the time stamp is empty", line=first + i)
    span = float(timestamps[-1] - timestamps[0]) if len(timestamps) > 1 else 0.0
    nominal = sfreq or MUSE_SFREQ
    if span > 0 and (len(timestamps) - 1) / span < nominal / 4:
        every = span / (len(timestamps) - 1)
        raise RecordingFormatError(
            path,
            f"holds one raw sample every {every:.2g} s, not {nominal:g} per second: it was "
            "recorded with a 'Recording Interval' of seconds, which keeps no raw EEG; set "
            "Recording Interval to 'Constant' in Mind Monitor's settings and record again",
        )
    rate = sfreq or estimate_sfreq(path, timestamps)
    positions, gaps = regular_grid(path, timestamps, rate, gap_threshold, first + eeg_index)
    markers = []
    if "Elements" in table.columns:
        for i, text in _marker_samples(table["Elements"]):
            # An event row sits between EEG rows: attach it to the next sample.
            j = min(int(np.searchsorted(eeg_index, i)), len(eeg_index) - 1)
            markers.append((j, text))
    return build_raw(
        values.T,
        list(MUSE_EEG),
        ["eeg"] * 4,
        rate,
        positions=positions,
        gaps=gaps,
        markers=markers,
        start_time=timestamps[0],
        device_model="muse",
    )
