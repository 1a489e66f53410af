"""Who sits at which headset: the classroom's seats from the command line or a roster file.

A seat is a participant label, a board name and how to connect to it
(``--headset P,BOARD[,ADDRESS]`` or a ``--roster`` CSV with the columns
``participant,board`` and any of :data:`CONNECTION_FIELDS`); the board
``join`` seats a student whose own laptop records (``eeg4students join``),
and a roster's ``loose`` column loosens electrodes of a synthetic headset
for a rehearsal. Rosters are read as untrusted files: at most :data:`MAX_ROSTER_BYTES` and
:data:`MAX_HEADSETS` rows, labels and boards checked, one clear error
naming the line.
"""

from __future__ import annotations

import csv
import dataclasses
import itertools
from dataclasses import dataclass, field
from pathlib import Path

from eeg4students.boards import get_board
from eeg4students.errors import EEG4StudentsError, first_line
from eeg4students.lsl import is_lsl, stream_key
from eeg4students.store import check_label

#: Most headsets one classroom serves (a roster of thousands is a mistake).
MAX_HEADSETS = 64
#: Largest roster file read (bytes).
MAX_ROSTER_BYTES = 1024 * 1024
#: The board of a seat whose headset is on the student's own laptop (``eeg4students join``).
JOIN_BOARD = "join"
#: Connection options a roster may give, as BrainFlow names them.
CONNECTION_FIELDS = ("mac_address", "serial_port", "serial_number", "file", "master_board")


class RosterError(EEG4StudentsError):
    """A headset list or roster file that cannot make a classroom."""


@dataclass(frozen=True)
class Seat:
    """One participant and their headset.

    Attributes
    ----------
    participant : str
        Pseudonym (BIDS label).
    board : str
        Headset name (``synthetic``, ``muse_2``, ``cyton``, ``playback``...).
    connection : dict
        BrainFlow connection options (:data:`CONNECTION_FIELDS`).
    loose : tuple of str
        Electrodes of a synthetic headset whose contact a rehearsal loosens
        from the start (the roster's ``loose`` column).
    """

    participant: str
    board: str
    connection: dict = field(default_factory=dict)
    loose: tuple[str, ...] = ()


def parse_seat(text: str) -> Seat:
    """Read ``PARTICIPANT,BOARD[,ADDRESS]`` as given to ``classroom --headset``.

    An address starting with ``/`` or ``COM`` is a serial port, one of six
    colon-separated pairs a Bluetooth MAC address, anything else a serial
    number (a Muse's name). The playback board takes a file and the headset
    that recorded it: ``PARTICIPANT,playback,FILE,MASTER_BOARD``.

    Raises
    ------
    RosterError
        If the text does not have two or three parts (four for playback) or
        the label is bad.
    """
    parts = [p.strip() for p in text.split(",")]
    if len(parts) >= 2 and parts[1].lower() == "playback":
        if len(parts) != 4 or not all(parts):
            raise RosterError(
                f"--headset {text!r}: a playback headset is PARTICIPANT,playback,FILE,"
                "MASTER_BOARD (the headset that recorded the BrainFlow file), e.g. "
                "m01,playback,muse.csv,muse_2."
            )
        connection = {"file": parts[2], "master_board": parts[3]}
        return _seat(parts[0], parts[1], connection, f"--headset {text!r}")
    if len(parts) not in (2, 3) or not all(parts):
        raise RosterError(
            f"--headset {text!r}: give PARTICIPANT,BOARD or PARTICIPANT,BOARD,ADDRESS, "
            "e.g. s01,muse_2,Muse-1234."
        )
    connection = {}
    if len(parts) == 3:
        address = parts[2]
        if address.startswith("/") or address.upper().startswith("COM"):
            connection["serial_port"] = address
        elif address.count(":") == 5:
            connection["mac_address"] = address
        else:
            connection["serial_number"] = address
    return _seat(parts[0], parts[1], connection, f"--headset {text!r}")


def read_roster(path: str | Path) -> list[Seat]:
    """Read a roster: a CSV with ``participant`` and ``board`` columns.

    Optional columns are the connection options (:data:`CONNECTION_FIELDS`)
    and ``loose``: for a synthetic headset, electrodes (separated by spaces
    or semicolons) whose contact a rehearsal loosens from the start, for the
    teacher to find and fix.

    Raises
    ------
    RosterError
        If the file cannot be read, lacks a column, names an unknown column
        or has a bad row.
    """
    path = Path(path)
    try:
        if path.stat().st_size > MAX_ROSTER_BYTES:
            raise RosterError(f"{path}: far larger than a class's roster; give the right file.")
        with path.open(encoding="utf-8-sig", newline="") as handle:
            rows = list(itertools.islice(csv.DictReader(handle), MAX_HEADSETS + 1))
            columns = [c.strip() for c in (rows[0].keys() if rows else []) if c is not None]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise RosterError(f"{path}: cannot read the roster ({first_line(exc)}).") from exc
    if len(rows) > MAX_HEADSETS:
        raise RosterError(
            f"{path}: more than {MAX_HEADSETS} headsets; a classroom serves at most "
            f"{MAX_HEADSETS} (split the class into several rooms)."
        )
    if not rows or not {"participant", "board"} <= set(columns):
        raise RosterError(f"{path}: the roster needs participant and board columns and a row.")
    unknown = [
        c for c in columns if c not in ("participant", "board", "loose", *CONNECTION_FIELDS)
    ]
    if unknown:
        raise RosterError(
            f"{path}: unknown column {unknown[0]!r}; use participant, board, "
            f"{', '.join(CONNECTION_FIELDS)} and loose."
        )
    seats = []
    for number, row in enumerate(rows, start=2):
        row = {k.strip(): (v or "").strip() for k, v in row.items() if k}
        connection = {k: row[k] for k in CONNECTION_FIELDS if row.get(k)}
        where = f"{path}, line {number}"
        seat = _seat(row["participant"], row["board"], connection, where)
        if row.get("loose"):
            loose = _loose(seat, row["loose"], where)
            seat = dataclasses.replace(seat, loose=loose)
        seats.append(seat)
    return seats


def _loose(seat: Seat, text: str, where: str) -> tuple[str, ...]:
    """The roster's ``loose`` electrodes of a synthetic headset, checked against its montage."""
    names = [n for n in text.replace(";", " ").split() if n]
    if seat.board.strip().lower() != "synthetic":
        raise RosterError(
            f"{where}: only a synthetic headset rehearses a loose contact; leave loose empty "
            f"for {seat.board}."
        )
    montage = get_board(seat.board).eeg_names
    lower = {n.lower(): n for n in montage}
    unknown = [n for n in names if n.lower() not in lower]
    if unknown:
        raise RosterError(
            f"{where}: the synthetic headset has no electrode {unknown[0]!r}; it has "
            f"{', '.join(montage)}."
        )
    return tuple(dict.fromkeys(lower[n.lower()] for n in names))


def is_join(board: str) -> bool:
    """Whether a seat's board says the headset is on the student's own laptop."""
    return board.strip().lower() == JOIN_BOARD


def _seat(participant: str, board: str, connection: dict, where: str) -> Seat:
    try:
        participant = check_label("participant", participant)
        if is_join(board):
            if connection:
                raise RosterError(
                    f"{participant} joins from their own laptop (board join): the laptop "
                    "connects the headset, so give no address, port or file here."
                )
        elif is_lsl(board):
            stream_key(board)  # the stream itself is found when the classroom connects
        else:
            get_board(board, master=connection.get("master_board"))
    except EEG4StudentsError as exc:
        raise RosterError(f"{where}: {exc}") from exc
    return Seat(participant, board, connection)
