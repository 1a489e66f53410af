"""Simulated feature tables of whole cohorts, for measuring privacy checks.

A privacy check is judged on cases whose answer is known: models that never
saw a participant (its false-positive rate) and models that did (its power),
many of each. That takes thousands of fits, so the cohorts here are made at
the level the models see, band powers of windows, with the structure that
makes real cohorts hard:

- every participant has their own offset on every feature (individual
  spectra, electrode contact), larger than the task effect;
- the task effect is a small part shared by everybody plus a larger part of
  the participant's own, so a model trained on others transfers poorly
  (leave-participant-out accuracy near real cohorts' 0.6-0.7 for two tasks,
  where the default simulated class of :mod:`eeg4students.simulate` gives
  more);
- windows of one task block share a block offset and drift slowly within it
  (an AR(1) process over consecutive windows), so they are not independent;
- participants have different numbers of windows;
- a third of the windows carry an artifact (blinks, muscle: broadband power
  raised on one channel), so the features are heavy-tailed, and the windows
  of a block drift together (consecutive windows correlated at 0.9): a model
  remembers little of any one person. :data:`HARD` is set so that the
  previous privacy check of this toolkit (P's mean score against 8 + 8
  shadows) catches about half of the SVMs trained with P, as it caught 17 of
  32 on a real 43-person OpenBCI cohort (``benchmarks/bench_privacy.py``
  reports it beside the current check).

The table has the columns a feature table has (``participant``, ``session``,
``recording``, ``block``, ``start``, ``task`` and the feature columns), so
every model and check of the toolkit takes it as it is.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from eeg4students.simulate import BANDS


@dataclass(frozen=True)
class CohortShape:
    """How a simulated cohort is made.

    Attributes
    ----------
    participants : int
    channels : int
        Feature columns are ``channels x 5`` log band powers.
    tasks : tuple of str
    windows : tuple of int
        Range (inclusive) of a participant's windows, split evenly over tasks
        and over ``blocks`` blocks per task.
    blocks : int
        Blocks per task per participant.
    person_sd : float
        Spread of a participant's own offset on each feature.
    shared_effect : float
        Size of the task effect everybody shares (per feature, in units of
        the window noise).
    own_effect : float
        Spread of the participant's own task effect.
    block_sd : float
        Spread of a block's offset.
    ar : float
        Correlation of consecutive windows' noise within a block.
    artifacts : float
        Share of windows with an artifact: broadband power raised on one
        channel by ``artifact_size`` (times a log-normal factor), as blinks
        and muscle do; it makes the features heavy-tailed, as real ones are.
    artifact_size : float
    """

    participants: int = 40
    channels: int = 2
    tasks: tuple[str, ...] = ("Think", "Breathe")
    windows: tuple[int, int] = (30, 50)
    blocks: int = 2
    person_sd: float = 1.0
    shared_effect: float = 0.35
    own_effect: float = 0.45
    block_sd: float = 0.35
    ar: float = 0.9
    artifacts: float = 0.35
    artifact_size: float = 8.0


#: The hard real case of a withdrawal check: 40 participants, 2 channels, 30-50 windows.
HARD = CohortShape()


def feature_columns(shape: CohortShape) -> list[str]:
    """Names of the feature columns: ``ch<i>_<band>``."""
    return [f"ch{c + 1}_{band}" for c in range(shape.channels) for band in BANDS]


def simulate_cohort(shape: CohortShape = HARD, seed: int = 0) -> pd.DataFrame:
    """A feature table of a simulated cohort.

    Parameters
    ----------
    shape : CohortShape
    seed : int

    Returns
    -------
    table : pandas.DataFrame
        One row per window: ``participant`` (``c01``...), ``session`` ("1"),
        ``recording``, ``block``, ``start`` (seconds), ``task`` and
        ``channels x 5`` feature columns.
    """
    rng = np.random.default_rng(seed)
    columns = feature_columns(shape)
    n_feat = len(columns)
    shared = {}
    for task in shape.tasks:  # of the same size in every cohort: RMS shared_effect
        direction = rng.normal(0, 1, n_feat)
        shared[task] = shape.shared_effect * direction / np.sqrt(np.mean(direction**2))
    rows = []
    for p in range(shape.participants):
        label = f"c{p + 1:02d}"
        offset = rng.normal(0, shape.person_sd, n_feat)
        own = {task: rng.normal(0, shape.own_effect, n_feat) for task in shape.tasks}
        total = int(rng.integers(shape.windows[0], shape.windows[1] + 1))
        per_block = max(1, total // (len(shape.tasks) * shape.blocks))
        recording = f"sub-{label}_ses-1_task-eeg4students_run-1"
        start = 0.0
        block = 0
        for _ in range(shape.blocks):
            for task in shape.tasks:
                block += 1
                centre = offset + shared[task] + own[task] + rng.normal(0, shape.block_sd, n_feat)
                noise = rng.normal(0, 1, (per_block, n_feat))
                for w in range(1, per_block):
                    noise[w] = shape.ar * noise[w - 1] + np.sqrt(1 - shape.ar**2) * noise[w]
                hit = rng.random(per_block) < shape.artifacts
                for w in np.flatnonzero(hit):
                    channel = int(rng.integers(shape.channels))
                    size = shape.artifact_size * rng.lognormal(0, 0.5)
                    noise[w, channel * len(BANDS) : (channel + 1) * len(BANDS)] += size
                for w in range(per_block):
                    rows.append(
                        {
                            "participant": label,
                            "session": "1",
                            "recording": recording,
                            "block": f"{recording}/{block}",
                            "start": start,
                            "task": task,
                            **dict(zip(columns, centre + noise[w], strict=True)),
                        }
                    )
                    start += 1.0
                start += 10.0
    return pd.DataFrame(rows)
