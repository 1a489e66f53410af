"""How task blocks and faults are written as MNE annotations.

A task block is an annotation whose description is ``"task/<Name>"`` and
whose duration spans the block, e.g. ``task/Think`` from 12.0 s for 60.0 s.
Anything the toolkit knows is unusable is an annotation starting with
``BAD_`` (MNE's convention), e.g. ``BAD_gap`` for samples that were never
received. Other annotations (device markers, blinks reported by an app)
are kept as they are.
"""

from __future__ import annotations

import mne
import pandas as pd

TASK_PREFIX = "task/"
BAD_GAP = "BAD_gap"


def task_description(task: str) -> str:
    """Return the annotation description of a block of ``task``.

    Parameters
    ----------
    task : str
        The task name, e.g. ``"Think"``.

    Returns
    -------
    description : str
        ``"task/<task>"``.
    """
    return f"{TASK_PREFIX}{task}"


def task_blocks(raw: mne.io.BaseRaw) -> pd.DataFrame:
    """List the task blocks annotated in a recording.

    Parameters
    ----------
    raw : mne.io.BaseRaw
        A recording whose annotations mark task blocks as ``task/<Name>``.

    Returns
    -------
    blocks : pandas.DataFrame
        One row per block in time order, with columns ``task`` (str),
        ``onset`` and ``duration`` (seconds from the first sample).
    """
    ann = raw.annotations
    # Onsets count from the measurement date when the annotations carry one,
    # from the first sample otherwise.
    offset = raw.first_time if ann.orig_time is not None else 0.0
    rows = [
        {
            "task": desc[len(TASK_PREFIX) :],
            "onset": float(onset) - offset,
            "duration": float(duration),
        }
        for onset, duration, desc in zip(ann.onset, ann.duration, ann.description, strict=True)
        if desc.startswith(TASK_PREFIX)
    ]
    frame = pd.DataFrame(rows, columns=["task", "onset", "duration"])
    return frame.sort_values("onset", ignore_index=True)
