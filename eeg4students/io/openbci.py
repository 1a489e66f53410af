"""Reader for recordings saved by the OpenBCI GUI (``OpenBCI-RAW-*.txt``)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from eeg4students.boards import RAIL_UV
from eeg4students.errors import RecordingFormatError
from eeg4students.io._raw import build_raw, check_rate, flat_or_railed, gap_spans
from eeg4students.io._table import leading_lines, numeric_columns, read_table

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
    """Grid positions from the board's wrapping sample counter, if it counts by one.

    The Cyton numbers its samples 0..255 and wraps; a jump in that counter is
    a lost radio packet. Boards whose counter does not step by one (Ganglion,
    Daisy) return None: their gaps cannot be seen in the file.
    """
    if len(index) < 2 or np.any(np.isnan(index)):
        return None
    modulus = int(index.max()) + 1
    steps = np.diff(index.astype(np.int64)) % modulus
    if modulus != 256 or np.mean(steps == 1) < 0.99:
        return None
    steps[steps == 0] = modulus
    return np.concatenate([[0], np.cumsum(steps)])


def read_openbci_gui(
    path: str | Path,
    *,
    ch_names: Sequence[str] | None = None,
):
    """Read an OpenBCI GUI recording, old (``%`` header only) or v5/v6 format.

    Parameters
    ----------
    path : str | Path
        The ``OpenBCI-RAW-*.txt`` file.
    ch_names : sequence of str | None
        Electrode names of the EEG channels in board order (the GUI does not
        store them). Default ``EXG1 .. EXGn``.

    Returns
    -------
    raw : mne.io.RawArray
        EEG in volts at the rate in the header (Cyton 250 Hz with 8 channels,
        Daisy 125 Hz with 16, Ganglion 200 Hz with 4). Samples lost in transit
        (jumps in the Cyton's sample counter) are filled and annotated
        ``BAD_gap``; a non-zero ``Marker Channel`` becomes an annotation;
        channels that are flat or sit at the rail (not connected) are in
        ``info["bads"]``.
    """
    path = Path(path)
    header = leading_lines(path, "%")
    if not header or "openbci" not in header[0].lower():
        raise RecordingFormatError(path, "has no '%OpenBCI' header; is this an OpenBCI GUI file?")
    text = "\n".join(header)
    n_match, rate_match = _N_CHANNELS_RE.search(text), _RATE_RE.search(text)
    if not n_match or not rate_match:
        raise RecordingFormatError(
            path, "the '%' header lacks 'Number of channels' or 'Sample Rate'", line=1
        )
    n_channels = int(n_match.group(1))
    try:
        rate = float(rate_match.group(1))
    except ValueError:
        raise RecordingFormatError(path, "the header's 'Sample Rate' is not a number") from None
    sfreq = check_rate(path, rate)
    if not 1 <= n_channels <= MAX_CHANNELS:
        raise RecordingFormatError(
            path,
            f"the header says {n_channels} channels; OpenBCI boards have 1 to {MAX_CHANNELS}",
            line=1 + next(i for i, line in enumerate(header) if _N_CHANNELS_RE.search(line)),
        )
    board = _BOARD_RE.search(text)
    device = _device(board.group(1) if board else None, n_channels, sfreq)
    with path.open(encoding="utf-8", errors="replace") as fh:
        for _ in header:
            fh.readline()
        first_row = fh.readline()
    named = first_row.strip().lower().startswith("sample index")
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
    bads = flat_or_railed(eeg, names, rail_uv=RAIL_UV.get(device))
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
