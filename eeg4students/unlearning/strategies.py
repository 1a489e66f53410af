"""The three ways to remove a participant's influence from a fitted model.

- ``retrain`` (exact, the gold standard): refit the whole pipeline (scaling,
  hyperparameters, TMV ranking) on the remaining windows.
- ``sharded`` (exact, fast): for models trained in the sharded form
  (:mod:`eeg4students.models.sharded`), refit only the trees or shard
  that saw the participant. Any other model is refit with ``retrain``, and
  the outcome says so.
- ``certified`` (approximate with a guarantee, fast): for models trained in
  the certified form (:mod:`eeg4students.models.certified`), a Newton step
  without the participant (a few when one does not fit the budget),
  ``(epsilon, delta)``-indistinguishable from a
  retrain while the gradient-residual budget lasts, a retrain with fresh
  noise past it. Any other model is refit with ``retrain``.
- ``conmu`` (approximate, controllable): :func:`~eeg4students.unlearning.conmu.conmu_forget`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd

from eeg4students.errors import EEG4StudentsError
from eeg4students.models import CertifiedLogisticRegression, CertifiedTMV, ParticipantUnlearning
from eeg4students.training import TRAIN_ORDER, fit_estimator
from eeg4students.unlearning.conmu import ConMUSettings, conmu_forget

STRATEGIES = ("retrain", "sharded", "certified", "conmu")


@dataclass
class Outcome:
    """A model after forgetting, and how it got there.

    Attributes
    ----------
    estimator : fitted estimator
    strategy : str
        The strategy that actually ran (``retrain`` when ``sharded`` was asked
        of a model not trained in the sharded form).
    note : str
        Why the strategy differs from the one asked, or empty.
    times : dict of str to float
        Seconds per stage.
    info : dict
        Strategy details (ConMU's selection; the certified removal's
        ``certificate``: epsilon, delta, budget, the bound this removal used,
        what is left, whether the budget ran out and the model was retrained).
    """

    estimator: object
    strategy: str
    note: str = ""
    times: dict = field(default_factory=dict)
    info: dict = field(default_factory=dict)

    @property
    def exact(self) -> bool:
        """Whether the model now equals one trained without the participant."""
        return self.strategy in ("retrain", "sharded")

    @property
    def seconds(self) -> float:
        """Total run time."""
        return float(sum(self.times.values()))


def _arrays(table: pd.DataFrame, columns: list[str]):
    table = table.sort_values(TRAIN_ORDER)
    return (
        table[columns].to_numpy(dtype=float),
        table["task"].to_numpy(),
        table["block"].to_numpy(),
        table["participant"].to_numpy().astype(str),
    )


def apply_strategy(
    strategy: str,
    model,
    template: Callable[[], object],
    participant: str,
    remain: pd.DataFrame,
    forget: pd.DataFrame,
    columns: list[str],
    *,
    calibration: pd.DataFrame | None = None,
    conmu: ConMUSettings | None = None,
) -> Outcome:
    """Remove ``participant``'s influence from ``model``.

    Parameters
    ----------
    strategy : {"retrain", "sharded", "certified", "conmu"}
    model : fitted estimator
        The model trained with the participant (updated in place by ``sharded``).
    template : callable
        Returns a new unfitted estimator of the model's kind and settings.
    participant : str
        Who to forget.
    remain : pandas.DataFrame
        Feature table of the remaining training windows.
    forget : pandas.DataFrame
        Feature table of the participant's windows.
    columns : list of str
        Feature columns.
    calibration : pandas.DataFrame | None
        Windows of calibration strangers: participants the model never saw,
        kept apart from those any reported figure uses (ConMU's stopping rule).
    conmu : ConMUSettings | None
        ConMU's knobs.

    Returns
    -------
    outcome : Outcome
    """
    if strategy not in STRATEGIES:
        raise EEG4StudentsError(
            f"Unknown strategy {strategy!r}: use one of {', '.join(STRATEGIES)}."
        )
    if strategy == "certified" and isinstance(model, CertifiedLogisticRegression | CertifiedTMV):
        # The step is a sum over windows: no order needed, and the remaining windows are
        # read (converted) only if the removal needs them.
        start = time.perf_counter()
        certificate = model.remove(
            participant,
            remain[columns],
            remain["task"],
            forget[columns].to_numpy(dtype=float),
            forget["task"].to_numpy(),
        )
        return Outcome(
            model,
            "certified",
            times={"newton_step": time.perf_counter() - start},
            info={"certificate": certificate},
        )
    if strategy == "sharded" and isinstance(model, ParticipantUnlearning):
        X, y, _, participants = _arrays(remain, columns)
        start = time.perf_counter()
        model.forget(participant, X, y, participants)
        return Outcome(model, "sharded", times={"refit_parts": time.perf_counter() - start})
    if strategy == "conmu":
        X, y, blocks, participants = _arrays(remain, columns)
        strangers = None
        if calibration is not None and len(calibration):
            cx, cy, _, cp = _arrays(calibration, columns)
            strangers = (cx, cy, cp)
        updated, info = conmu_forget(
            model,
            template(),
            remain=(X, y, blocks, participants),
            forget=(forget[columns].to_numpy(dtype=float), forget["task"].to_numpy()),
            calibration=strangers,
            settings=conmu,
        )
        return Outcome(updated, "conmu", info.pop("note"), info.pop("times"), info)
    note = ""
    if strategy in ("sharded", "certified"):
        note = f"not trained in the {strategy} form: refit with retrain"
    start = time.perf_counter()
    estimator = fit_estimator(template(), remain, columns)
    return Outcome(estimator, "retrain", note, {"refit": time.perf_counter() - start})


@dataclass(frozen=True)
class Unlearner:
    """A strategy and its settings, to run on any model trained with ``participant``.

    Calling it, ``unlearn(model, remain, forget)``, gives the updated model
    (for unlearning shadow models); :meth:`outcome` gives the whole
    :class:`Outcome` (for the saved model). ``remain`` is the model's training
    rows without the participant, ``forget`` theirs.
    """

    strategy: str
    template: Callable[[], object]
    participant: str
    columns: list[str]
    calibration: pd.DataFrame | None = None
    conmu: ConMUSettings | None = None

    def outcome(self, model, remain: pd.DataFrame, forget: pd.DataFrame) -> Outcome:
        """:func:`apply_strategy` with this strategy's settings."""
        return apply_strategy(
            self.strategy,
            model,
            self.template,
            self.participant,
            remain,
            forget,
            self.columns,
            calibration=self.calibration,
            conmu=self.conmu,
        )

    def __call__(self, model, remain: pd.DataFrame, forget: pd.DataFrame):
        return self.outcome(model, remain, forget).estimator


def unlearner(
    strategy: str,
    template: Callable[[], object],
    participant: str,
    columns: list[str],
    *,
    calibration: pd.DataFrame | None = None,
    conmu: ConMUSettings | None = None,
) -> Unlearner:
    """The strategy as a function of a model and its tables (see :class:`Unlearner`)."""
    return Unlearner(strategy, template, participant, columns, calibration, conmu)
