"""BIDS tables (``*.tsv``): read as text cells, written atomically.

Two readers for two uses: :func:`read_tsv` (pandas) where a table is
analysed or edited, :func:`tsv_rows` (the csv module, about ten times
quicker on these small tables) on the write path, which runs once per
recording stored. Both name the file when it is damaged.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd

from eeg4students._files import atomic_write_text
from eeg4students.errors import DatasetError, first_line


def read_tsv(path: Path) -> pd.DataFrame:
    """Read a BIDS TSV as text cells, naming the file if it is damaged.

    Parameters
    ----------
    path : Path
        The ``.tsv`` file.

    Returns
    -------
    table : pandas.DataFrame
        Every cell as text (``n/a`` kept as text).

    Raises
    ------
    DatasetError
        If the file cannot be parsed as a tab-separated table.
    """
    try:
        return pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise DatasetError(
            f"{path} is damaged ({first_line(exc)}); restore it from a backup."
        ) from exc


def tsv_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    """Read a BIDS TSV as its header and rows of text, without pandas.

    Used on the write path, which runs once per imported file: the csv module
    is about ten times quicker than pandas on these small tables.

    Raises
    ------
    DatasetError
        If the file is not UTF-8 text or a row is longer than the header
        (shorter rows are padded with empty cells, as pandas reads them).
    """
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            rows = [row for row in csv.reader(handle, delimiter="\t") if row]
    except (UnicodeDecodeError, csv.Error) as exc:
        raise DatasetError(
            f"{path} is damaged ({first_line(exc)}); restore it from a backup."
        ) from exc
    if not rows:
        return [], []
    header, body = rows[0], rows[1:]
    if any(len(row) > len(header) for row in body):
        raise DatasetError(
            f"{path} is damaged (a row longer than its header); restore it from a backup."
        )
    return header, [row + [""] * (len(header) - len(row)) for row in body]


def tsv_column(path: Path, column: str) -> list[str]:
    """One column of a BIDS TSV as text; empty if the file has no such column."""
    header, rows = tsv_rows(path)
    if column not in header:
        return []
    index = header.index(column)
    return [row[index] for row in rows]


def write_tsv(path: Path, table: pd.DataFrame) -> None:
    """Write a table as a BIDS TSV (text cells, no index), atomically."""
    atomic_write_text(path, table.to_csv(sep="\t", index=False))
