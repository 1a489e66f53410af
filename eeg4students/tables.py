"""Tables for people: fitted to a console's width, quality in one line per recording.

Free of heavy imports at module level (the command line imports it at
start-up); pandas is only needed by the caller's tables.
"""

from __future__ import annotations

import numbers
import textwrap
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["TABLE_WIDTH", "format_table", "quality_view"]

#: Console tables are fitted to this many columns (a terminal's default width is 80-100).
TABLE_WIDTH = 100
#: Narrowest a wrapped text column gets.
_MIN_TEXT = 12
#: Words up to this long are never split across lines.
_MAX_WORD = 30
_GAP = "  "


def _is_float(value) -> bool:
    """A real number that is not a whole-number type (NumPy's float32 included)."""
    return isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral | bool)


def _cell(value, decimals: int | None) -> str:
    if value is None:
        return ""
    if _is_float(value):
        value = float(value)
        if value != value:
            return "–"  # NaN
        return f"{value:.{decimals}f}" if decimals is not None else str(value)
    text = str(value)
    return ", ".join(part.strip() for part in text.split(",")) if "," in text else text


def _decimals(values, digits: int) -> int | None:
    """Decimals that show every float of a column (at most ``digits``), so points align."""
    floats = [float(v) for v in values if _is_float(v) and v == v]
    if not floats:
        return None
    needed = 0
    for value in floats:
        text = f"{round(value, digits):.{digits}f}".rstrip("0")
        needed = max(needed, len(text.split(".")[1]) if "." in text else 0)
    return max(needed, 1)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return text in ("", "–")
    return True


def _wrapped(text: str, width: int) -> list[str]:
    """Lines of a cell at most ``width`` wide, broken at spaces (a longer word is split)."""
    longest = max((len(w) for w in text.split()), default=0)
    return textwrap.wrap(
        text, width, break_on_hyphens=False, break_long_words=longest > width
    ) or [""]


def _height(cells: list[str], width: int) -> int:
    return sum(len(_wrapped(c, width)) for c in cells)


def format_table(
    table: pd.DataFrame, *, index: bool = False, width: int = TABLE_WIDTH, digits: int = 3
) -> str:
    """Render a table for the console in at most ``width`` columns.

    Headers wrap at underscores, long text cells (notes, task orders) wrap
    at spaces and commas onto more lines (the column whose wrapping adds the
    fewest lines narrows first), numbers are right-aligned and never
    wrapped, floats show the decimals their column needs (at most
    ``digits``) and missing values a dash.

    Parameters
    ----------
    table : pandas.DataFrame
        The table.
    index : bool
        Show the index as the first column.
    width : int
        Most characters per line (exceeded only by a table of many numeric
        columns, which cannot wrap).
    digits : int
        Decimals of float cells.

    Returns
    -------
    text : str
    """
    frame = table.reset_index() if index else table
    headers = [str(c).replace("_", " ") for c in frame.columns]
    decimals = [_decimals(frame[c].tolist(), digits) for c in frame.columns]
    rows = [
        [_cell(v, decimals[i]) for i, v in enumerate(row)] for row in frame.itertuples(index=False)
    ]
    n = len(headers)
    widest = [max((len(r[i]) for r in rows), default=0) for i in range(n)]
    words = [max((len(w) for w in h.split()), default=1) for h in headers]
    limits = [
        max(widest[i], words[i] if len(headers[i]) > widest[i] else len(headers[i]), 1)
        for i in range(n)
    ]
    numeric = [all(_is_number(r[i]) for r in rows) for i in range(n)]
    columns = [[r[i] for r in rows] for i in range(n)]
    budget = width - len(_GAP) * (n - 1)
    # A text column narrows down to its longest word (words are never split unless one is
    # longer than _MAX_WORD), and never below _MIN_TEXT.
    floors = [
        max(
            _MIN_TEXT,
            min(_MAX_WORD, max((len(w) for c in columns[i] for w in c.split()), default=0)),
        )
        for i in range(n)
    ]
    while sum(limits) > budget:
        # Narrow the text column whose wrapping adds the fewest lines (then the widest).
        wrappable = [i for i in range(n) if not numeric[i] and limits[i] > floors[i]]
        if not wrappable:
            break
        step = max(1, (sum(limits) - budget) // 8)
        cost = {
            i: _height(columns[i], max(limits[i] - step, floors[i]))
            - _height(columns[i], limits[i])
            for i in wrappable
        }
        chosen = min(wrappable, key=lambda i: (cost[i], -limits[i]))
        limits[chosen] = max(limits[chosen] - step, floors[chosen])

    def wrap(text: str, i: int) -> list[str]:
        if numeric[i] or len(text) <= limits[i]:
            return [text]
        return _wrapped(text, limits[i])

    def lines(cells: list[list[str]], top: bool) -> list[str]:
        height = max(len(c) for c in cells)
        out = []
        for k in range(height):
            parts = []
            for i, c in enumerate(cells):
                pad = height - len(c) if not top else 0  # headers sit on the rule
                text = c[k - pad] if 0 <= k - pad < len(c) else ""
                parts.append(text.rjust(limits[i]) if numeric[i] else text.ljust(limits[i]))
            out.append(_GAP.join(parts).rstrip())
        return out

    header = [_wrapped(h, limits[i]) for i, h in enumerate(headers)]
    out = lines(header, top=False)
    out.append(_GAP.join("-" * w for w in limits))
    for row in rows:
        out += lines([wrap(text, i) for i, text in enumerate(row)], top=True)
    return "\n".join(out)


def quality_view(table: pd.DataFrame) -> pd.DataFrame:
    """The per-recording quality table for the console: reasons in one column.

    ``dropped %`` lists the reasons windows were rejected with their share
    (``plateau 8, clipped 1``); the full table, one column per reason, is in
    ``quality.tsv`` and the report.

    Parameters
    ----------
    table : pandas.DataFrame
        From :func:`eeg4students.featureset.quality_by_recording`.

    Returns
    -------
    view : pandas.DataFrame
        The same rows; ``excluded`` only when some recording is excluded.
    """
    from eeg4students.preprocess import REASONS

    reasons = [r for r in REASONS if r in table.columns]
    dropped = table[reasons].apply(
        lambda row: ", ".join(f"{r.replace('_', ' ')} {v}" for r, v in row.items() if v),
        axis=1,
    )
    shown = table.drop(columns=reasons).assign(**{"dropped %": dropped})
    columns = [c for c in shown.columns if c not in ("excluded", "notes", "dropped %")]
    extra = [c for c in ("excluded",) if c in shown and shown[c].astype(bool).any()]
    return shown[[*columns, "dropped %", *extra, "notes"]]
