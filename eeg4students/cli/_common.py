"""Helpers shared by the command modules: output paths, tables, option types."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from eeg4students.errors import EEG4StudentsError
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


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def n_jobs(text: str) -> int:
    value = int(text)
    if value == 0 or value < -1:
        raise argparse.ArgumentTypeError(f"must be a positive count or -1, not {value}")
    return value


def positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, not {value}")
    return value


def add_parallel_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("parallel work (joblib; see eeg4students.parallel)")
    g.add_argument(
        "--n-jobs", type=n_jobs, help="local worker processes (-1: every core; default 1)"
    )
    g.add_argument(
        "--scheduler", metavar="ADDRESS", help="a running Dask scheduler, tcp://host:8786"
    )


def add_connection_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("connection (BrainFlowInputParams)")
    g.add_argument("--mac-address", help="Bluetooth address of the headset")
    g.add_argument("--serial-port", help="serial port of the dongle (e.g. /dev/ttyUSB0)")
    g.add_argument("--serial-number", help="headset name, e.g. Muse-1234")
    g.add_argument("--timeout", type=int, help="seconds to wait when connecting")
    g.add_argument("--file", help="recording replayed by --board playback")
    g.add_argument("--master-board", help="headset that made the replayed recording")


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
