"""Reading delimited text recordings with errors that name the line and column.

Shared by the text readers (muse-lsl, Mind Monitor, OpenBCI GUI). pandas does
the parsing; this module turns what can go wrong into one readable
:class:`~eeg4students.errors.RecordingFormatError`.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from eeg4students.errors import RecordingFormatError, RecordingNote, first_line

_FIELDS_RE = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")


def check_file(path: Path) -> None:
    """Raise if ``path`` does not exist, is a folder, cannot be read, or is empty."""
    if not path.exists():
        raise RecordingFormatError(path, "no such file; check the path")
    if path.is_dir():
        raise RecordingFormatError(path, "is a folder, not a recording file")
    try:
        with path.open("rb") as fh:
            head = fh.read(4096)
    except OSError as exc:
        raise RecordingFormatError(
            path, f"cannot be read ({exc.strerror or first_line(exc)}); check its permissions"
        ) from exc
    if not head.strip():
        raise RecordingFormatError(path, "the file is empty")


def leading_lines(path: Path, prefix: str) -> list[str]:
    """Return the lines at the top of ``path`` that start with ``prefix``."""
    lines = []
    with path.open(encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if not line.startswith(prefix):
                break
            lines.append(line.rstrip("\r\n"))
    return lines


def _tail_lines(path: Path, n_bytes: int = 65536) -> tuple[list[str], bool]:
    """The last non-empty lines of a file (read from its end only), and whether
    the file ends with a line break."""
    with path.open("rb") as fh:
        size = fh.seek(0, 2)
        fh.seek(max(0, size - n_bytes))
        text = fh.read().decode("utf-8", errors="replace")
    lines = text.splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    if size > n_bytes and lines:
        lines = lines[1:]  # the first may be a part of a line
    return lines, text.endswith(("\n", "\r"))


def _last_line_number(path: Path) -> int:
    """The 1-based number of the last non-empty line (one pass over the file)."""
    last = 0
    with path.open("rb") as fh:
        for number, line in enumerate(fh, start=1):
            if line.strip():
                last = number
    return last


def _cut_off_last_line(path: Path, sep: str) -> tuple[int, int, int] | None:
    """(line number, fields seen, fields expected) if the last line was cut off mid-write.

    The last line is cut off when it has fewer fields than the lines before it
    usually have (rows that are always one field short, as Mind Monitor writes
    them, are not), or when the file stops right after a separator. Only the
    end of the file is read unless it was.
    """
    lines, ends_with_break = _tail_lines(path)
    if len(lines) < 2:
        return None
    counts = [len(line.split(sep)) for line in lines[-51:-1]]
    typical = max(set(counts), key=counts.count)
    last = lines[-1]
    seen = len(last.split(sep))
    if seen < typical or (not ends_with_break and last.rstrip().endswith(sep)):
        return _last_line_number(path), seen, typical
    return None


def read_table(
    path: Path,
    *,
    skip_lines: int = 0,
    header: bool = True,
    sep: str = ",",
    what: str = "recording",
) -> tuple[pd.DataFrame, int]:
    """Read a delimited text table, with readable errors.

    Parameters
    ----------
    path : Path
        The text file.
    skip_lines : int
        Lines to skip before the header (or the first row when ``header`` is
        False), e.g. ``%`` comment lines.
    header : bool
        Whether the first line after ``skip_lines`` names the columns.
    sep : str
        Field separator. Spaces after it are ignored.
    what : str
        What kind of file this is, for messages (``"muse-lsl CSV"``).

    Returns
    -------
    table : pandas.DataFrame
        The cells, numeric where pandas could tell; column names stripped.
    first_line : int
        1-based line number in the file of the table's first data row.

    Raises
    ------
    RecordingFormatError
        If the file is empty, has a header but no rows, or has a row with
        more fields than the header.

    Warns
    -----
    RecordingNote
        If the last line was cut off mid-write: it is left out.
    """
    check_file(path)
    first_line = skip_lines + (2 if header else 1)
    try:
        table = pd.read_csv(
            path,
            sep=sep,
            skiprows=skip_lines,
            header=0 if header else None,
            skipinitialspace=True,
            low_memory=False,
        )
    except pd.errors.EmptyDataError as exc:
        raise RecordingFormatError(path, f"the {what} has no header and no samples") from exc
    except pd.errors.ParserError as exc:
        match = _FIELDS_RE.search(str(exc))
        if match:
            expected, line, saw = match.groups()
            raise RecordingFormatError(
                path,
                f"has {saw} fields where {expected} were expected; fix or delete that line",
                line=int(line),
            ) from exc
        # pandas' own text may end in a newline and a stray "." (pandas 2.2): one line.
        said = " ".join(str(exc).split()).rstrip(" .")
        raise RecordingFormatError(path, f"cannot be parsed as a {what}: {said}") from exc
    except UnicodeDecodeError as exc:
        raise RecordingFormatError(path, f"is not a text {what} (binary content)") from exc
    if header:
        table.columns = [str(c).strip() for c in table.columns]
    if len(table) == 0:
        raise RecordingFormatError(path, f"the {what} has a header but no samples")
    cut = _cut_off_last_line(path, sep)
    if cut is not None:
        number, seen, typical = cut
        table = table.iloc[:-1]
        warnings.warn(
            RecordingNote(
                path,
                f"line {number} was cut off ({seen} of {typical} fields: the recorder stopped "
                "mid-write) and was left out",
            ),
            stacklevel=2,
        )
        if len(table) == 0:
            raise RecordingFormatError(path, f"the {what} has a header but no complete sample")
    return table, first_line


def numeric_columns(
    path: Path,
    table: pd.DataFrame,
    columns: list[str] | list[int],
    first_line: int,
    *,
    allow_nan: bool = False,
) -> np.ndarray:
    """Take columns of a table as float64, naming any cell that is not a number.

    Parameters
    ----------
    path : Path
        The file the table came from (for messages).
    table : pandas.DataFrame
        The table from :func:`read_table`.
    columns : list
        Column labels to take, in order.
    first_line : int
        1-based file line of the table's first row.
    allow_nan : bool
        If False, an empty or NaN cell is an error naming where the run of
        missing values starts and how long it is.

    Returns
    -------
    values : ndarray, shape (n_rows, n_columns)
        The cells as float64.
    """
    missing = [c for c in columns if c not in table.columns]
    if missing:
        found = ", ".join(str(c) for c in table.columns)
        raise RecordingFormatError(
            path,
            f"has no column {missing[0]!r} (the columns are: {found}); is this the right format?",
        )
    out = np.empty((len(table), len(columns)))
    for j, col in enumerate(columns):
        cells = table[col]
        values = pd.to_numeric(cells, errors="coerce").to_numpy(dtype=float)
        not_number = np.isnan(values) & cells.notna().to_numpy()
        if not_number.any():
            i = int(np.argmax(not_number))
            raise RecordingFormatError(
                path,
                f"{cells.iloc[i]!r} is not a number",
                line=first_line + i,
                column=str(col),
            )
        if not allow_nan and np.isnan(values).any():
            start = int(np.argmax(np.isnan(values)))
            ok_after = ~np.isnan(values[start:])
            length = int(np.argmax(ok_after)) if ok_after.any() else len(values) - start
            raise RecordingFormatError(
                path,
                f"{length} missing value(s) (empty or NaN) from this line on; "
                "the headset lost the signal here: cut the file or fill the run",
                line=first_line + start,
                column=str(col),
            )
        out[:, j] = values
    return out
