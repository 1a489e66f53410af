"""Helpers shared by the command modules: output paths, tables, option types."""

from __future__ import annotations

import argparse
import logging
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING

from eeg4students.errors import EEG4StudentsError
from eeg4students.names import STALL_TIMEOUT_RANGE, TASK_SECONDS_RANGE
from eeg4students.tables import format_table

if TYPE_CHECKING:  # pandas is imported where used: --help and --version stay fast
    import pandas as pd

EXIT_ERROR = 1
EXIT_INTERRUPTED = 130


def output_file(path: str | Path) -> Path:
    """Check that ``path`` can be written as a file."""
    path = Path(path)
    if path.is_dir():
        raise EEG4StudentsError(f"{path} is a folder; give a file name to write.")
    for parent in path.parents:
        if parent.exists() and not parent.is_dir():
            raise EEG4StudentsError(f"{path} cannot be written: {parent} is a file, not a folder.")
    return path


def output_dir(path: str | Path) -> Path:
    """Check that ``path`` is, or can be made, a folder to write into."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise EEG4StudentsError(f"{path} is a file; give a folder to write the results into.")
    for parent in path.parents:
        if parent.exists() and not parent.is_dir():
            raise EEG4StudentsError(f"{path} cannot be made: {parent} is a file, not a folder.")
    return path


def print_table(table: pd.DataFrame, *, index: bool = False) -> None:
    """Print a table fitted to :data:`TABLE_WIDTH` columns (see :func:`format_table`)."""
    print(format_table(table, index=index))


class Number:
    """An option's number: finite, of one kind, within a range that ``--help`` shows.

    Parameters
    ----------
    kind : type
        ``int`` or ``float``.
    low, high : float | None
        The smallest and largest value allowed (None: no bound on that side).
    above : bool
        ``low`` itself is not allowed (``0 < x``).
    also : tuple of int
        Values allowed outside the range (``-1`` for "every core").
    unit : str
        Shown after the range in help, e.g. ``"s"``.
    """

    def __init__(
        self,
        kind: type = float,
        low: float | None = None,
        high: float | None = None,
        *,
        above: bool = False,
        also: tuple = (),
        unit: str = "",
    ) -> None:
        self.kind, self.low, self.high, self.above = kind, low, high, above
        self.also, self.unit = also, unit
        self.__name__ = "whole number" if kind is int else "number"

    def describe(self) -> str:
        """The range as help shows it: ``1-100``, ``> 0``, ``0-1 s``."""

        def show(value: float) -> str:
            if float(value).is_integer() and abs(value) < 1e15:
                return f"{int(value):,}"
            return f"{value:g}"

        if self.low is not None and self.high is not None and not self.above:
            text = f"{show(self.low)}-{show(self.high)}"
        elif self.low is not None and self.high is not None:
            text = f"> {show(self.low)}, at most {show(self.high)}"
        elif self.low is not None:
            text = f"{'>' if self.above else '>='} {show(self.low)}"
        else:
            text = f"<= {show(self.high)}" if self.high is not None else "any"
        text += "".join(f" or {show(v)}" for v in self.also)
        return f"{text} {self.unit}".rstrip()

    def __call__(self, text: str):
        text = str(text).strip()
        try:
            if self.kind is int:
                if not text.lstrip("+-").isdigit() or not text.isascii() or len(text) > 20:
                    raise ValueError(text)
                value = int(text)
            else:
                if not text.isascii() or len(text) > 40:
                    raise ValueError(text)
                value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not a {self.__name__} ({self.describe()})"
            ) from None
        if value in self.also:
            return value
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{text} is not a finite number ({self.describe()})")
        too_low = self.low is not None and (value <= self.low if self.above else value < self.low)
        if too_low or (self.high is not None and value > self.high):
            raise argparse.ArgumentTypeError(f"{text} is outside {self.describe()}")
        return value


#: A block's length when the protocol's is overridden (s).
TASK_SECONDS = Number(float, *TASK_SECONDS_RANGE, unit="s")
#: Seconds without samples before a headset counts as gone.
STALL_TIMEOUT = Number(float, *STALL_TIMEOUT_RANGE, unit="s")


def n_jobs(text: str) -> int:
    """A count of worker processes: 1 to :data:`MAX_JOBS`, or -1 for every core."""
    return N_JOBS(text)


#: Most worker processes a command starts: four per core (more never helps, and each
#: holds its own copy of the libraries).
MAX_JOBS = max(4, 4 * (os.cpu_count() or 1))
#: Worker processes: 1 to :data:`MAX_JOBS`, or -1 for every core.
N_JOBS = Number(int, 1, MAX_JOBS, also=(-1,))


def text_value(text: str) -> str:
    """An option's text: not empty, no control characters (a NUL would end a path)."""
    if not str(text).strip():
        raise argparse.ArgumentTypeError("an empty value; give one")
    if any(not (c.isprintable() or c == "\t") for c in str(text)):
        raise argparse.ArgumentTypeError(f"{text!r} holds control characters")
    return str(text)


def path_value(text: str) -> Path:
    """A path option: :func:`text_value` as a ``Path``."""
    return Path(text_value(text))


def add_parallel_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("parallel work (joblib; see eeg4students.parallel)")
    g.add_argument(
        "--n-jobs",
        type=N_JOBS,
        metavar="N",
        help="local worker processes: every core unless given (1: this process only)",
    )
    g.add_argument(
        "--scheduler",
        type=scheduler_address,
        metavar="ADDRESS",
        help="a running Dask scheduler, tcp://host:8786",
    )


def add_connection_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("connection (BrainFlowInputParams)")
    g.add_argument("--mac-address", help="Bluetooth address of the headset")
    g.add_argument("--serial-port", help="serial port of the dongle (e.g. /dev/ttyUSB0)")
    g.add_argument("--serial-number", help="headset name, e.g. Muse-1234")
    g.add_argument(
        "--timeout",
        type=Number(int, 1, 3600),
        help="seconds to wait when connecting (for lsl:NAME: to find the stream, default 5)",
    )
    g.add_argument("--file", help="recording replayed by --board playback")
    g.add_argument("--master-board", help="headset that made the replayed recording")


def add_lsl_marker_options(p: argparse.ArgumentParser, *, record: bool = True) -> None:
    """``--markers`` (record an LSL marker stream) and ``--publish-markers`` (send the cues).

    ``record=False`` (the classroom) offers only ``--publish-markers``; its
    markers carry the participant: ``sub-<label>/task/<Name>/start``.
    """
    g = p.add_argument_group("Lab Streaming Layer")
    if record:
        g.add_argument(
            "--markers",
            metavar="NAME",
            help="an LSL marker stream (name, type or source id) to record as lsl/<text> "
            "annotations, e.g. a PsychoPy experiment's",
        )
    shape = (
        "task/<Name>/start, task/<Name>/end"
        if record
        else "sub-<label>/task/<Name>/start, .../end"
    )
    g.add_argument(
        "--publish-markers",
        metavar="NAME",
        help=f"publish the cues on an LSL marker stream of this name ({shape}), e.g. for "
        "LabRecorder",
    )


def scheduler_address(text: str) -> str:
    """A Dask scheduler's address, ``tcp://host:port`` (or ``host:port``)."""
    text = text_value(text).strip()
    rest = text.split("://", 1)[1] if "://" in text else text
    host, _, port = rest.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a scheduler address like tcp://192.168.1.20:8786"
        )
    return text


def connection_params(args: argparse.Namespace) -> dict:
    """BrainFlow connection settings from the options of add_connection_options."""
    return {
        "mac_address": args.mac_address,
        "serial_port": args.serial_port,
        "serial_number": args.serial_number,
        "timeout": args.timeout,
        "file": args.file,
        "master_board": args.master_board,
    }


def quiet() -> bool:
    """Whether the user asked for errors only (``-q``): notes are not printed."""
    return logging.getLogger("eeg4students").getEffectiveLevel() > logging.WARNING
