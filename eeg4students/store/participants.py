"""``participants.tsv``: one row per participant, with what the user said of them.

The dataset holds pseudonyms: a participant's row has only what the user
gave (age, sex, hand), checked cell by cell (:func:`check_attributes`), never
personal data from a file header. mne-bids fills the same columns from a
recording's subject fields as it writes, so they are blanked while it writes
and put back after (:func:`take_attributes`, :func:`set_attributes`).
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import pandas as pd

from eeg4students.errors import DatasetError, EEG4StudentsError, first_line
from eeg4students.names import MAX_AGE
from eeg4students.store.paths import check_label
from eeg4students.store.tables import read_tsv, tsv_rows, write_tsv

#: Columns of ``participants.tsv`` that mne-bids fills from a recording's subject fields.
_MNE_BIDS_ATTRIBUTES = ("age", "sex", "hand", "weight", "height")
#: What ``participants.tsv`` may say of a participant, and the values allowed (BIDS).
ATTRIBUTES = {"sex": ("M", "F", "O", "n/a"), "hand": ("R", "L", "A", "n/a")}


#: The attributes ``participants.tsv`` may hold from the user (see :func:`check_attributes`).
ATTRIBUTE_NAMES = ("age", "sex", "hand")
#: First characters that make a spreadsheet read a cell as a formula.
FORMULA_LEADERS = ("=", "+", "-", "@")


def cell_problem(text: str) -> str | None:
    """What is wrong with a ``participants.tsv`` cell from outside, or None.

    A cell that a spreadsheet would run as a formula (starting with ``=``,
    ``+``, ``-`` or ``@``) or that holds digits of another script (``１５``,
    read as a number by some programs and not by others) is refused.
    """
    text = str(text)
    if text.startswith(FORMULA_LEADERS):
        return f"begins with {text[0]!r}, which a spreadsheet would run as a formula"
    if any(c.isdigit() and not c.isascii() for c in text):
        return "holds digits other than 0-9"
    return None


_AGE = re.compile(r"[0-9]{1,3}(\.[0-9]{1,2})?")


def plausible_age(text: str) -> bool:
    """Whether a cell is ``n/a`` or an age in years: plain ASCII digits, 0 to :data:`MAX_AGE`.

    Exponents (``1e-320``), signs, full-width digits (``１５``) and other
    scripts' digits are refused: a cell is read by people and spreadsheets.
    """
    text = str(text).strip()
    return text == "n/a" or (_AGE.fullmatch(text) is not None and float(text) <= MAX_AGE)


def check_attributes(attributes: dict) -> dict[str, str]:
    """Check participant attributes given by the user, as ``participants.tsv`` cells.

    Parameters
    ----------
    attributes : dict
        Any of ``age`` (years, 0-130), ``sex`` (M, F, O) and ``hand`` (R, L,
        A); None or "n/a" for unknown.

    Returns
    -------
    cells : dict of str
        The attributes as they will be written.

    Raises
    ------
    DatasetError
        If a name or a value is not one of those.
    """
    cells = {}
    for key, value in attributes.items():
        if value is None:
            continue
        text = str(value).strip()
        if key == "age":
            if not plausible_age(text):
                raise DatasetError(
                    f"The age {text!r} is not a number of years from 0 to {MAX_AGE} (digits, "
                    "e.g. 15 or 15.5)."
                )
        elif key in ATTRIBUTES:
            text = text.upper() if text != "n/a" else text
            if text not in ATTRIBUTES[key]:
                allowed = ", ".join(ATTRIBUTES[key])
                raise DatasetError(f"The {key} {value!r} is not one of {allowed}.")
        else:
            raise DatasetError(f"{key!r} is not a participant attribute; give age, sex or hand.")
        cells[key] = text
    return cells


def read_participants(path: Path) -> pd.DataFrame:
    """Read a ``participants.tsv``, which must have its ``participant_id`` column.

    Raises
    ------
    DatasetError
        If the file is damaged or lacks the column (edited by hand, or by a
        spreadsheet that renamed it).
    """
    table = read_tsv(path)
    if "participant_id" not in table.columns:
        raise DatasetError(
            f"{path} has no participant_id column (its columns: "
            f"{', '.join(map(str, table.columns[:6])) or 'none'}); restore it from a backup."
        )
    return table


def add_participant_row(root: Path, row: dict[str, str]) -> None:
    """Add a row to ``root/participants.tsv`` unless the participant has one (atomically).

    Parameters
    ----------
    root : Path
        A BIDS dataset folder (or a staging folder laid out like one).
    row : dict
        Column -> text cell, with ``participant_id`` (``sub-P``); columns the
        table lacks are added, cells it lacks become ``n/a``.
    """
    path = Path(root) / "participants.tsv"
    table = read_participants(path) if path.is_file() else pd.DataFrame(columns=["participant_id"])
    if len(table) and (table["participant_id"] == row["participant_id"]).any():
        return
    table = pd.concat([table, pd.DataFrame([row], dtype=str)], ignore_index=True).fillna("n/a")
    write_tsv(path, table)


def take_attributes(root: Path, participant: str) -> dict[str, str]:
    """Blank the participant's attributes that mne-bids writes; return those known."""
    path = Path(root) / "participants.tsv"
    if not path.is_file():
        return {}
    # Read with the csv module first: this runs before every write and
    # usually finds nothing to keep (pandas only when there is).
    header, rows = tsv_rows(path)
    columns = [c for c in _MNE_BIDS_ATTRIBUTES if c in header]
    if "participant_id" not in header or not columns:
        return {}
    ids = header.index("participant_id")
    row = next((r for r in rows if r[ids] == f"sub-{participant}"), None)
    if row is None:
        return {}
    kept = {c: row[header.index(c)] for c in columns}
    kept = {c: v for c, v in kept.items() if v not in ("n/a", "")}
    if kept:
        table = read_participants(path)
        table.loc[table["participant_id"] == f"sub-{participant}", columns] = "n/a"
        write_tsv(path, table)
    return kept


def set_attributes(root: Path, participant: str, attributes: dict[str, str]) -> None:
    """Write the participant's attributes into ``participants.tsv``."""
    path = Path(root) / "participants.tsv"
    table = read_participants(path)
    row = table["participant_id"] == f"sub-{participant}"
    for key, value in attributes.items():
        if key not in table.columns:
            table[key] = "n/a"
        table.loc[row, key] = value
    write_tsv(path, table)


def sort_participants(root: Path) -> None:
    """Rewrite ``participants.tsv`` sorted by participant, if it is not."""
    path = Path(root) / "participants.tsv"
    if path.is_file():
        table = read_participants(path)
        ordered = table.sort_values("participant_id", kind="stable")
        if not ordered.index.equals(table.index):
            write_tsv(path, ordered)


def read_attributes_table(path: str | Path) -> dict[str, dict[str, str]]:
    """Read participants' attributes from a CSV or TSV table the user keeps.

    Parameters
    ----------
    path : str | Path
        A table with a ``participant`` (or ``participant_id``, ``sub-`` is
        dropped) column and any of ``age``, ``sex``, ``hand``; other columns
        are refused, so nothing personal enters the dataset by mistake.

    Returns
    -------
    attributes : dict
        Participant label -> checked attributes.

    Raises
    ------
    DatasetError
        If the file cannot be read or a column, label or value is not allowed.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: cannot read the participants table ({exc}).") from exc
    first = text.splitlines()[0] if text.strip() else ""
    sep = "\t" if "\t" in first else ","
    try:
        table = pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise DatasetError(f"{path}: not a CSV or TSV table ({first_line(exc)}).") from exc
    table.columns = [str(c).strip() for c in table.columns]
    key = next((c for c in ("participant", "participant_id") if c in table.columns), None)
    if key is None:
        raise DatasetError(f"{path}: the table needs a 'participant' column.")
    others = [c for c in table.columns if c != key]
    unknown = [c for c in others if c not in ("age", "sex", "hand")]
    if unknown:
        raise DatasetError(
            f"{path}: the column {unknown[0]!r} is not a participant attribute; keep only "
            "participant, age, sex and hand."
        )
    out, lines = {}, {}
    for number, row in enumerate(table.itertuples(index=False), start=2):
        cells = dict(zip(table.columns, row, strict=True))
        label = str(cells.pop(key)).strip().removeprefix("sub-")
        try:
            label = check_label("participant", label)
            attributes = check_attributes({k: (v if v != "" else None) for k, v in cells.items()})
        except EEG4StudentsError as exc:
            raise DatasetError(f"{path}, line {number}: {exc}") from exc
        first = lines.setdefault(label.lower(), (number, label))
        if first[0] != number:
            raise DatasetError(
                f"{path}: lines {first[0]} ({first[1]}) and {number} ({label}) describe the "
                "same participant; keep one row per participant."
            )
        out[label] = attributes
    return out
