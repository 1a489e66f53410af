"""Reader for files written by BrainFlow's ``DataFilter.write_file``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from brainflow.data_filter import DataFilter
from brainflow.exit_codes import BrainFlowError

from eeg4students.boards import Board, get_board
from eeg4students.errors import RecordingFormatError
from eeg4students.io._raw import build_raw, regular_grid
from eeg4students.io._table import check_file, numeric_columns, read_table

#: Seconds by which BrainFlow's arrival timestamps may step back (none seen; a margin).
ARRIVAL_JITTER = 0.05


def read_brainflow_file(
    path: str | Path,
    *,
    board: str | Board | None = None,
    master_board: str | None = None,
    gap_threshold: float = 0.1,
    marker_names: dict[float, str] | None = None,
    first_row: int = 0,
    last_row: int | None = None,
    data: np.ndarray | None = None,
):
    """Read a BrainFlow data file, given the headset that recorded it.

    BrainFlow files are tab-separated with one line per sample and one column
    per row of the board's data array; they do not say which board wrote
    them, so ``board`` is required.

    Parameters
    ----------
    path : str | Path
        The file.
    board : str | Board
        Friendly name of the recording headset (see
        :func:`eeg4students.boards.board_names`), or its description (an
        LSL stream's layout, kept in a session note).
    master_board : str | None
        For ``board="playback"``, the headset that made the original.
    gap_threshold : float
        Samples lost for longer than this (s) make a gap (annotated ``BAD_gap``).
    marker_names : dict | None
        Descriptions for marker values, e.g. ``{1.0: "task/Think"}``;
        unnamed markers keep their value as text.
    first_row, last_row : int, int | None
        Only samples ``first_row`` to ``last_row`` (exclusive; None: to the
        end) are read (a classroom's session without the waits around it);
        the measurement date is that of the first sample kept.
    data : ndarray, shape (n_rows, n_samples) | None
        The file's values, already read with ``DataFilter.read_file`` (it
        is then not read again); None reads it.

    Returns
    -------
    raw : mne.io.RawArray
        EEG in volts with the board's electrode names and sampling rate.
    """
    path = Path(path)
    check_file(path)
    if board is None:
        raise RecordingFormatError(
            path,
            "is a BrainFlow data file, which does not say which headset recorded it; "
            "pass the board (e.g. --board muse_2)",
        )
    spec = board if isinstance(board, Board) else get_board(board, master=master_board)
    try:
        data = DataFilter.read_file(str(path)) if data is None else data
    except BrainFlowError:
        # BrainFlow only says that it failed; find the line ourselves.
        table, first = read_table(path, header=False, sep="\t", what="BrainFlow file")
        numeric_columns(path, table, list(table.columns), first)
        raise RecordingFormatError(path, "BrainFlow cannot read this file") from None
    if data.ndim != 2 or data.shape[0] != spec.n_rows:
        raise RecordingFormatError(
            path,
            f"has {data.shape[0]} values per sample but {spec.name} records "
            f"{spec.n_rows}; is the board right?",
        )
    last_row = data.shape[1] if last_row is None else last_row
    if not 0 <= first_row < last_row <= data.shape[1]:
        raise RecordingFormatError(
            path,
            f"has {data.shape[1]} samples; it cannot be read from sample {first_row + 1} to "
            f"{last_row}",
        )
    data = data[:, first_row:last_row]
    eeg = data[list(spec.eeg_rows)]
    if not np.isfinite(eeg).all():
        raise RecordingFormatError(path, "holds NaN or infinite EEG values")
    positions, gaps, start = None, [], None
    if spec.timestamp_row is not None:
        stamps = data[spec.timestamp_row]
        start = float(stamps[0])
        lines = np.arange(1, data.shape[1] + 1)
        # BrainFlow stamps samples as they arrive: a stalled connection (or a busy
        # machine) delivers late samples in a burst, which is no loss.
        positions, gaps = regular_grid(
            path, stamps, spec.sfreq, gap_threshold, lines, jitter=ARRIVAL_JITTER, on_arrival=True
        )
    markers = []
    if spec.marker_row is not None:
        values = data[spec.marker_row]
        names = marker_names or {}
        markers = [
            (int(i), names.get(float(values[i]), f"{values[i]:g}")) for i in np.flatnonzero(values)
        ]
    return build_raw(
        eeg,
        spec.eeg_names,
        ["eeg"] * len(spec.eeg_names),
        spec.sfreq,
        positions=positions,
        gaps=gaps,
        markers=markers,
        start_time=start,
        device_model=spec.name,
    )
