"""Reader for recordings saved by the OpenBCI GUI (``OpenBCI-RAW-*.txt``)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from eeg4students.errors import RecordingFormatError
from eeg4students.io._raw import build_raw, check_rate, gap_spans
from eeg4students.io._table import leading_lines, numeric_columns, read_table
from eeg4students.quality import bad_channels, rail_of

_N_CHANNELS_RE = re.compile(r"Number of channels\s*=\s*(\d+)", re.IGNORECASE)
_RATE_RE = re.compile(r"Sample Rate\s*=\s*([\d.]+)", re.IGNORECASE)
#: Most EEG channels of an OpenBCI board (Cyton with Daisy).
MAX_CHANNELS = 16
_BOARD_RE = re.compile(r"Board\s*=\s*\S*?Board(\w+)", re.IGNORECASE)


def _device(board_text: str | None, n_channels: int, sfreq: float) -> str:
    """Name the OpenBCI board from the header, or from channel count and rate."""
    text = (board_text or "").lower()
    if "ganglion" in text or (not text and n_channels == 4):
        return "ganglion"
    if "synthetic" in text:
        return "synthetic"
    return "cyton_daisy" if n_channels == 16 else "cyton"


def _dropped_sample_positions(index: np.ndarray) -> np.ndarray | None:
    """Grid positions from the board's wrapping sample counter, if it shows lost samples.

    The Cyton numbers its samples 0..255 and wraps, one step per sample; with
    the Daisy module two radio packets make one 16-channel sample, so the
    counter steps by 2. A larger step is a lost packet. Boards whose counter
    does not step regularly (Ganglion) return None: their gaps cannot be seen
    in the file; nor do counters with a cell that is not a count (empty,
    infinite, negative or fractional).
    """
    if len(index) < 2 or not np.isfinite(index).all():
        return None
    if index.min() < 0 or np.any(index != np.rint(index)):
        return None
    modulus = int(index.max()) + 1
    if modulus not in (255, 256):
        return None
    modulus = 256
    steps = np.diff(index.astype(np.int64)) % modulus
    steps[steps == 0] = modulus
    stride = 2 if np.mean(steps == 2) >= 0.99 else 1
    if np.mean(steps == stride) < 0.99:
        return None
    steps = np.maximum(np.rint(steps / stride).astype(np.int64), 1)
    return np.concatenate([[0], np.cumsum(steps)])


#: Numbers after the sample index in rows of the GUI's 2014-2018 files, by EEG
#: channel count: 8 or 16 EEG values then 3 accelerometer or 1 aux value; the
#: Ganglion's 4 EEG values then 3 accelerometer values.
_OLD_LAYOUTS = {11: 8, 9: 8, 19: 16, 17: 16, 7: 4}


def _numeric_fields(row: str) -> list[str]:
    """The fields of an old-format row, without the trailing clock and Unix time."""
    fields = [f.strip() for f in row.split(",")]
    while fields and fields[-1] and not _is_number(fields[-1]):
        fields.pop()  # HH:MM:SS.mmm
    if len(fields) > 1 and _is_number(fields[-1]) and abs(float(fields[-1])) > 1e11:
        fields.pop()  # Unix time in ms
        while fields and fields[-1] and not _is_number(fields[-1]):
            fields.pop()
    return fields


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _infer_channels(path: Path, row: str, line: int) -> int:
    """The EEG channel count of an old-format file, from the layout of a row."""
    numbers = len(_numeric_fields(row)) - 1
    if numbers in _OLD_LAYOUTS:
        return _OLD_LAYOUTS[numbers]
    raise RecordingFormatError(
        path,
        f"the header does not say how many channels there are and rows of {numbers} values "
        "after the sample index match no OpenBCI board; name the channels with --channels "
        "(or n_channels=)",
        line=line,
    )


def read_openbci_gui(
    path: str | Path,
    *,
    ch_names: Sequence[str] | None = None,
    n_channels: int | None = None,
):
    """Read an OpenBCI GUI recording: 2014-2018 (``%`` header only) or v5/v6 format.

    Parameters
    ----------
    path : str | Path
        The ``OpenBCI-RAW-*.txt`` file.
    ch_names : sequence of str | None
        Electrode names of the EEG channels in board order (the GUI does not
        store them). Default ``EXG1 .. EXGn``.
    n_channels : int | None
        Number of EEG channels. Files of 2014-2018 often do not say; it is then
        taken from ``ch_names`` or from the row layout (index, 8 or 16 EEG
        values, 3 or 1 aux values, an optional clock column).

    Returns
    -------
    raw : mne.io.RawArray
        EEG in volts at the rate in the header (Cyton 250 Hz with 8 channels,
        Daisy 125 Hz with 16, Ganglion 200 Hz with 4). Samples lost in transit
        (jumps in the Cyton's or Daisy's sample counter) are filled and
        annotated ``BAD_gap``; a non-zero ``Marker Channel`` becomes an
        annotation; channels that are flat or sit at the rail (not connected)
        are in ``info["bads"]``.
    """
    path = Path(path)
    header = leading_lines(path, "%")
    if not header or "openbci" not in header[0].lower():
        raise RecordingFormatError(path, "has no '%OpenBCI' header; is this an OpenBCI GUI file?")
    text = "\n".join(header)
    n_match, rate_match = _N_CHANNELS_RE.search(text), _RATE_RE.search(text)
    if not rate_match:
        raise RecordingFormatError(path, "the '%' header lacks 'Sample Rate'", line=1)
    try:
        rate = float(rate_match.group(1))
    except ValueError:
        raise RecordingFormatError(path, "the header's 'Sample Rate' is not a number") from None
    sfreq = check_rate(path, rate)
    with path.open(encoding="utf-8", errors="replace") as fh:
        for _ in header:
            fh.readline()
        first_row = fh.readline()
    named = first_row.strip().lower().startswith("sample index")
    given = n_channels if n_channels is not None else (len(ch_names) if ch_names else None)
    if n_match:
        count = int(n_match.group(1))
        count_line = 1 + next(i for i, line in enumerate(header) if _N_CHANNELS_RE.search(line))
        if given is not None and given != count and 1 <= count <= MAX_CHANNELS:
            raise RecordingFormatError(
                path, f"the header says {count} channels but {given} were given", line=count_line
            )
    elif given is not None:
        count, count_line = int(given), None
    elif named:
        raise RecordingFormatError(path, "the '%' header lacks 'Number of channels'", line=1)
    else:
        count, count_line = _infer_channels(path, first_row, len(header) + 1), None
    n_channels = count
    if not 1 <= n_channels <= MAX_CHANNELS:
        raise RecordingFormatError(
            path,
            f"the header says {n_channels} channels; OpenBCI boards have 1 to {MAX_CHANNELS}",
            line=count_line,
        )
    board = _BOARD_RE.search(text)
    device = _device(board.group(1) if board else None, n_channels, sfreq)
    table, first = read_table(
        path, skip_lines=len(header), header=named, what="OpenBCI GUI recording"
    )
    if named:
        exg = [f"EXG Channel {i}" for i in range(n_channels)]
        index_col, time_col = "Sample Index", "Timestamp"
        marker_col = "Marker Channel" if "Marker Channel" in table.columns else None
    else:
        if table.shape[1] < n_channels + 1:
            raise RecordingFormatError(
                path,
                f"rows have {table.shape[1]} fields but the header promises "
                f"{n_channels} channels after the sample index",
                line=first,
            )
        exg = list(range(1, n_channels + 1))
        index_col, marker_col = 0, None
        last = table.columns[-1]
        # Newer old-format files end with clock time and Unix time in ms.
        time_col = last if table[last].dtype.kind in "if" and table[last].iloc[0] > 1e11 else None
    eeg = numeric_columns(path, table, exg, first).T
    names = list(ch_names) if ch_names is not None else [f"EXG{i + 1}" for i in range(n_channels)]
    if len(names) != n_channels:
        raise RecordingFormatError(
            path, f"{len(names)} channel names were given for {n_channels} channels"
        )
    index = numeric_columns(path, table, [index_col], first, allow_nan=True)[:, 0]
    positions = _dropped_sample_positions(index)
    gaps = gap_spans(positions, sfreq) if positions is not None else []
    start = None
    if time_col is not None:
        stamp = numeric_columns(path, table, [time_col], first, allow_nan=True)[0, 0]
        if np.isfinite(stamp):
            start = stamp / 1000.0 if stamp > 1e11 else stamp
    markers = []
    if marker_col is not None:
        values = numeric_columns(path, table, [marker_col], first, allow_nan=True)[:, 0]
        markers = [(int(i), f"{values[i]:g}") for i in np.flatnonzero(np.nan_to_num(values))]
    bads = bad_channels(eeg, list(names), rail_uv=rail_of(device))
    return build_raw(
        eeg,
        names,
        ["eeg"] * n_channels,
        sfreq,
        positions=positions,
        gaps=gaps,
        markers=markers,
        start_time=start,
        device_model=device,
        bads=bads,
    )
