"""Unsupervised session adaptation of a feature table.

A model trained on other days meets a new day's contact, impedance and
state offsets. ``session`` standardisation removes them from each session's
own windows: every feature is centred and scaled by its mean and standard
deviation over all windows of that participant's session, labels unused
(the test session's statistics come from its own unlabelled windows, as
they would at the start of a class).

It assumes a session holds every task in similar amounts, as the
EEG4Students protocol's sessions do; where a session holds one task (many
published datasets record a file per task and day), its mean is the task
itself and standardising erases the signal. :func:`unbalanced_sessions`
names such sessions, and :func:`~eeg4students.evaluation.evaluate` reports
them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

#: Adaptations :func:`adapt_table` knows.
ADAPTATIONS = ("session",)
#: A session is unbalanced when its most frequent task has more than this many
#: times the windows of its least frequent one, or a task is missing.
BALANCE_RATIO = 3.0


def standardise_sessions(table: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """Z-score the feature columns within each participant's session.

    Parameters
    ----------
    table : pandas.DataFrame
        Feature table (``participant``, ``session`` and the columns).
    columns : sequence of str
        The feature columns.

    Returns
    -------
    table : pandas.DataFrame
        A copy; a feature constant within a session becomes 0 there.
    """
    out = table.copy()
    columns = list(columns)
    groups = out.groupby(["participant", "session"], sort=False)[columns]
    mean = groups.transform("mean")
    std = groups.transform("std", ddof=0).to_numpy()
    centred = out[columns].to_numpy(dtype=float) - mean.to_numpy(dtype=float)
    out[columns] = np.divide(centred, std, out=np.zeros_like(centred), where=std > 0)
    return out


def unbalanced_sessions(table: pd.DataFrame) -> list[str]:
    """Sessions whose windows do not cover the tasks evenly, one sentence each.

    Parameters
    ----------
    table : pandas.DataFrame
        Feature table (``participant``, ``session``, ``task``).

    Returns
    -------
    notes : list of str
    """
    tasks = sorted(table["task"].unique())
    counts = table.groupby(["participant", "session", "task"]).size().unstack(fill_value=0)
    counts = counts.reindex(columns=tasks, fill_value=0)
    notes = []
    for (person, session), row in counts.iterrows():
        missing = [t for t in tasks if row[t] == 0]
        present = row[row > 0]
        if missing:
            notes.append(
                f"{person} session {session} has no windows of {', '.join(missing)}: its "
                "mean is not task-neutral, so session standardisation removes task signal"
            )
        elif present.max() > BALANCE_RATIO * present.min():
            notes.append(
                f"{person} session {session} holds {present.max()} windows of "
                f"{present.idxmax()} but {present.min()} of {present.idxmin()}: session "
                "standardisation leans towards the larger task"
            )
    return notes


def adapt_table(
    table: pd.DataFrame, columns: Sequence[str], adapt: str | None
) -> tuple[pd.DataFrame, list[str]]:
    """Apply an adaptation by name; return the table and notes on where it may mislead.

    Parameters
    ----------
    table : pandas.DataFrame
        Feature table.
    columns : sequence of str
        The feature columns.
    adapt : str | None
        ``"session"`` or None (nothing).

    Returns
    -------
    table : pandas.DataFrame
        Band-power columns adapted; covariance columns (``cov_``) unchanged.
    notes : list of str

    Raises
    ------
    ValueError
        For an unknown adaptation.
    """
    if adapt is None:
        return table, []
    if adapt not in ADAPTATIONS:
        raise ValueError(f"Unknown adaptation {adapt!r}: use one of {', '.join(ADAPTATIONS)}.")
    # Covariance columns stay as they are: standardising them would break the
    # matrices the Riemannian models need (their adaptation is re-centering).
    scaled = [c for c in columns if not str(c).startswith("cov_")]
    return standardise_sessions(table, scaled), unbalanced_sessions(table)
