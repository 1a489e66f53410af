"""Headsets known to BrainFlow, by friendly name.

Everything about a board (channel rows, names, sampling rate) is read from
BrainFlow's own board descriptions, never copied by hand.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from brainflow.board_shim import BoardIds, BoardShim

from eeg4students.errors import BoardError
from eeg4students.quality import rail_of

#: Friendly names users type, mapped to BrainFlow's board ids. The Muse ids
#: are the native-Bluetooth boards, not the deprecated BLED112-dongle ones.
BOARD_IDS: dict[str, BoardIds] = {
    "synthetic": BoardIds.SYNTHETIC_BOARD,
    "playback": BoardIds.PLAYBACK_FILE_BOARD,
    "muse_2": BoardIds.MUSE_2_BOARD,
    "muse_s": BoardIds.MUSE_S_BOARD,
    "muse_2016": BoardIds.MUSE_2016_BOARD,
    "ganglion": BoardIds.GANGLION_BOARD,
    "cyton": BoardIds.CYTON_BOARD,
    "cyton_daisy": BoardIds.CYTON_DAISY_BOARD,
}


@dataclass(frozen=True)
class Board:
    """What BrainFlow says about one headset.

    Attributes
    ----------
    name : str
        Friendly name, e.g. ``"muse_2"``.
    board_id : int
        BrainFlow board id.
    sfreq : float
        Sampling rate in Hz.
    eeg_rows : tuple of int
        Rows of BrainFlow's data array that hold EEG, in microvolts.
    eeg_names : tuple of str
        Electrode names of those rows.
    timestamp_row, marker_row, package_row : int | None
        Rows holding the Unix timestamp (s), the inserted markers and the
        package counter, when the board has them.
    n_rows : int
        Number of rows in the board's data array.
    """

    name: str
    board_id: int
    sfreq: float
    eeg_rows: tuple[int, ...]
    eeg_names: tuple[str, ...]
    timestamp_row: int | None
    marker_row: int | None
    package_row: int | None
    n_rows: int

    @property
    def rail_uv(self) -> float | None:
        """Amplifier rail in microvolts, if known for this board (:data:`quality.RAIL_UV`)."""
        return rail_of(self.name)


def board_names() -> list[str]:
    """Return the friendly names of the supported headsets."""
    return list(BOARD_IDS)


def get_board(name: str, *, master: str | None = None) -> Board:
    """Describe a headset by its friendly name.

    Parameters
    ----------
    name : str
        A name from :func:`board_names`, e.g. ``"muse_2"`` (case and
        hyphens are forgiven: ``"Muse-2"`` works).
    master : str | None
        For ``"playback"`` (and other streaming boards), the headset whose
        data is replayed; its description is returned.

    Returns
    -------
    board : Board
        The board's channels and sampling rate, from BrainFlow.

    Raises
    ------
    BoardError
        If the name is unknown.
    """
    key = name.strip().lower().replace("-", "_")
    if key not in BOARD_IDS:
        close = difflib.get_close_matches(key, list(BOARD_IDS), n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise BoardError(
            f"Unknown headset {name!r}: {hint}use one of {', '.join(BOARD_IDS)}, or lsl:NAME "
            "for a Lab Streaming Layer stream (see `eeg4students boards`)."
        )
    if key == "playback":
        if master is None:
            raise BoardError(
                "The playback board replays another headset's recording: "
                "name that headset as the master board (e.g. muse_2)."
            )
        return get_board(master)
    board_id = int(BOARD_IDS[key])
    descr = BoardShim.get_board_descr(board_id)
    names = descr.get("eeg_names", "")
    rows = tuple(descr["eeg_channels"])
    eeg_names = (
        tuple(names.split(",")) if names else tuple(f"EEG{i + 1}" for i in range(len(rows)))
    )
    return Board(
        name=key,
        board_id=board_id,
        sfreq=float(descr["sampling_rate"]),
        eeg_rows=rows,
        eeg_names=eeg_names,
        timestamp_row=descr.get("timestamp_channel"),
        marker_row=descr.get("marker_channel"),
        package_row=descr.get("package_num_channel"),
        n_rows=int(descr["num_rows"]),
    )


def input_params(
    *,
    mac_address: str | None = None,
    serial_port: str | None = None,
    serial_number: str | None = None,
    timeout: int | None = None,
    file: str | None = None,
    master_board: str | None = None,
    other_info: str | None = None,
):
    """Build BrainFlow's connection parameters from friendly options.

    Parameters
    ----------
    mac_address, serial_port, serial_number : str | None
        How to find the headset (Bluetooth address, dongle port, Muse name).
    timeout : int | None
        Seconds BrainFlow waits to discover or connect.
    file : str | None
        File replayed by the playback board.
    master_board : str | None
        The headset whose recording the playback board replays.
    other_info : str | None
        Free text BrainFlow keeps with the session; two sessions of one
        board need different parameters, so a classroom of synthetic
        headsets names each participant here.

    Returns
    -------
    params : brainflow.board_shim.BrainFlowInputParams
    """
    from brainflow.board_shim import BrainFlowInputParams

    params = BrainFlowInputParams()
    params.mac_address = mac_address or ""
    params.serial_port = serial_port or ""
    params.serial_number = serial_number or ""
    if timeout is not None:
        params.timeout = int(timeout)
    if file is not None:
        params.file = str(file)
    if master_board is not None:
        params.master_board = int(get_board(master_board).board_id)
    if other_info is not None:
        params.other_info = str(other_info)
    return params


def board_table() -> list[dict]:
    """The supported headsets with their channels and sampling rates, from BrainFlow (and LSL)."""
    rows = []
    for name in BOARD_IDS:
        if name == "playback":
            rows.append({"board": name, "channels": "those of --master-board", "Hz": ""})
            continue
        spec = get_board(name)
        rows.append({"board": name, "channels": ",".join(spec.eeg_names), "Hz": spec.sfreq})
    rows.append({"board": "lsl:NAME", "channels": "the LSL stream's (its header)", "Hz": ""})
    return rows
