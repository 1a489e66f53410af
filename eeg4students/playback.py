"""BrainFlow sessions, and files for its playback board (any recording ``import`` reads).

:func:`open_board` makes the ``BoardShim`` of a headset, or of the playback
board replaying a file: the one place where a board name becomes a
BrainFlow session (``record``, ``classroom``, ``join`` and ``live``).

BrainFlow's playback board replays only files written by BrainFlow for the
headset it names (its master board): one tab-separated line per sample with
the board's rows. :func:`playback_file` passes such a file through and
converts every other recording ``eeg4students import`` reads (a muse-lsl or
Mind Monitor CSV, an OpenBCI GUI file, EDF, BrainVision, XDF...) into one:
EEG in microvolts on the board's EEG rows (matched by name, else by order
when the counts agree), resampled to the board's rate, time stamps from the
recording's start, package numbers counting up, no markers.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import numpy as np
from brainflow.board_shim import BoardShim
from brainflow.data_filter import DataFilter

from eeg4students.boards import BOARD_IDS, Board, BoardError, input_params
from eeg4students.errors import RecordingFormatError


def _eeg_order(names: list[str], spec: Board, path: Path) -> list[int]:
    """For each of the board's EEG channels, the recording's EEG channel that feeds it."""
    lower = [n.lower() for n in names]
    if all(n.lower() in lower for n in spec.eeg_names):
        return [lower.index(n.lower()) for n in spec.eeg_names]
    if len(names) == len(spec.eeg_names):
        return list(range(len(names)))  # generic names (OpenBCI files): in the file's order
    raise BoardError(
        f"{path} has EEG channels {', '.join(names)}, but the {spec.name} headset it is "
        f"replayed as records {', '.join(spec.eeg_names)}; name the headset that recorded "
        "it as the master board."
    )


def playback_file(path: str | Path, spec: Board) -> tuple[Path, bool]:
    """The file the playback board replays for ``path`` as the headset ``spec``.

    Parameters
    ----------
    path : str | Path
        A recording in any format ``import`` reads.
    spec : Board
        The master board (the headset the replay stands for).

    Returns
    -------
    file : Path
        ``path`` itself if it is a BrainFlow file, else a converted copy in
        the system's temporary folder (the caller removes it).
    converted : bool
        Whether ``file`` is such a copy.

    Raises
    ------
    BoardError
        If the file cannot be read, or its channels do not fit the board.
    """
    from eeg4students.io import detect_format, read_recording

    path = Path(path)
    try:
        if detect_format(path) == "brainflow":
            return path, False
        raw = read_recording(path)
    except RecordingFormatError as exc:
        raise BoardError(f"Cannot replay {path}: {exc}") from exc
    eeg = raw.copy().pick("eeg")
    if eeg.info["sfreq"] != spec.sfreq:
        eeg.resample(spec.sfreq, verbose="error")
    values = eeg.get_data()[_eeg_order(eeg.ch_names, spec, path)] * 1e6  # volts to µV
    n = values.shape[1]
    rows = np.zeros((spec.n_rows, n))
    rows[list(spec.eeg_rows)] = values
    start = raw.info["meas_date"].timestamp() if raw.info["meas_date"] else time.time()
    if spec.timestamp_row is not None:
        rows[spec.timestamp_row] = start + np.arange(n) / spec.sfreq
    if spec.package_row is not None:
        rows[spec.package_row] = np.arange(n) % 256
    handle, name = tempfile.mkstemp(prefix="eeg4students-playback-", suffix=".csv")
    os.close(handle)
    DataFilter.write_file(np.ascontiguousarray(rows), name, "w")
    return Path(name), True


def open_board(board: str, spec: Board, connection: dict) -> tuple[BoardShim, Path | None]:
    """A BrainFlow session (not prepared yet) for a headset, or the playback board.

    Parameters
    ----------
    board : str
        The board's name (``playback`` replays ``connection["file"]``).
    spec : Board
        The headset's layout (for playback: the master board's).
    connection : dict
        Connection options (:func:`eeg4students.boards.input_params`).

    Returns
    -------
    shim : BoardShim
    converted : Path | None
        A converted copy of the replayed file (None: none); give both to
        :func:`release_board` when the session ends.
    """
    converted = None
    if board.strip().lower() == "playback":
        board_id = int(BOARD_IDS["playback"])
        if connection.get("file"):
            replayed, made = playback_file(connection["file"], spec)
            connection = {**connection, "file": str(replayed)}
            converted = replayed if made else None
    else:
        board_id = spec.board_id
    BoardShim.disable_board_logger()
    try:
        return BoardShim(board_id, input_params(**connection)), converted
    except BaseException:
        if converted is not None:
            converted.unlink(missing_ok=True)
        raise


def release_board(shim: BoardShim, converted: Path | None) -> None:
    """End what :func:`open_board` opened: BrainFlow's session, and the converted copy.

    Parameters
    ----------
    shim : BoardShim
        Released if its session was prepared.
    converted : Path | None
        Removed, whatever the release did.
    """
    try:
        if shim.is_prepared():
            shim.release_session()
    finally:
        if converted is not None:
            converted.unlink(missing_ok=True)
