"""Did forgetting work? Accuracy, agreement with the gold model, and P's privacy.

A forgetting is measured on three models: the **original** (trained with
the participant P), the **updated** one (after the strategy ran) and the
**gold** model retrained from scratch without P. For each:

- accuracy on the remaining training windows and on the windows of
  evaluation strangers (participants no model saw), and on P's windows;
- for the original, and for an updated model of an approximate strategy, the
  participant-level check of :mod:`eeg4students.unlearning.privacy`; an exact
  strategy's updated model is compared with the gold by digest instead
  (:mod:`eeg4students.unlearning.digest`) and gets no probabilistic verdict;
- where P's score falls among the evaluation strangers' scores.

Agreement is the share of the strangers' windows where the updated and gold
models predict the same task.

Figures computed from P's windows (P's accuracy, P's rank among strangers,
the test statistic and threshold, agreement on P's windows) are **private**:
:func:`public_report` drops them, and only the public part is printed by a
real ``forget`` and kept in its audit entry; ``forget --dry-run --evaluate``
shows them all while P's data still exists.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from eeg4students.unlearning.digest import state_digest
from eeg4students.unlearning.privacy import MIN_STRANGERS, Shadows, stranger_rank, window_scores

#: Fields of a report computed from P's windows: never kept after P is forgotten
#: (``score``: P's score in ConMU's calibration check).
PRIVATE = ("forget_accuracy", "strangers", "private", "agreement_on_participant", "score")


def _accuracy(model, table: pd.DataFrame, columns: list[str]) -> float:
    if table.empty:
        return float("nan")
    return float(np.mean(model.predict(table[columns].to_numpy(dtype=float)) == table["task"]))


def forgetting_report(
    models: dict,
    *,
    forget: pd.DataFrame,
    remain: pd.DataFrame,
    test: pd.DataFrame,
    columns: list[str],
    shadows: Shadows | None,
    exact: bool,
    skip: tuple[str, ...] = (),
) -> dict:
    """Measure the original, updated and gold models of a forgetting.

    Parameters
    ----------
    models : dict of str to fitted estimator
        ``"original"``, ``"model"`` (updated) and ``"gold"`` (any may be
        missing).
    forget : pandas.DataFrame
        P's windows (the feature table's rows).
    remain : pandas.DataFrame
        The remaining training windows.
    test : pandas.DataFrame
        Windows of evaluation strangers (may be empty).
    columns : list of str
        Feature columns.
    shadows : Shadows | None
        P's shadow models; None skips the privacy checks.
    exact : bool
        Whether the strategy is exact: the updated model is then compared with
        the gold by digest (``identical``), not tested.
    skip : tuple of str
        Models given only for the agreement, not measured (already known).

    Returns
    -------
    report : dict
        Per model: ``remain_accuracy``, ``test_accuracy`` (NaN without
        strangers), ``privacy`` (the check of the original and of an
        approximate update, else None), ``digest``, and the private
        ``forget_accuracy``, ``strangers`` (P's rank among the strangers, or
        None) and ``private`` (``screen``: the member test of any model, for
        figures); ``identical`` (exact strategies: the updated
        model's digest equals the gold's), ``agreement`` (updated vs gold on
        the strangers' windows, None without strangers), the private
        ``agreement_on_participant``, ``n_strangers`` and ``notes``.
    """
    X_p = forget[columns].to_numpy(dtype=float)
    y_p = forget["task"].to_numpy()
    target = str(forget["participant"].iloc[0])
    strangers = sorted(test["participant"].unique()) if len(test) else []
    both = pd.concat([forget, test], ignore_index=True)
    report: dict = {"n_strangers": len(strangers), "notes": []}
    for name, model in models.items():
        if name in skip:
            continue
        entry = {
            "forget_accuracy": _accuracy(model, forget, columns),
            "remain_accuracy": _accuracy(model, remain, columns),
            "test_accuracy": _accuracy(model, test, columns),
            "privacy": None,
            "digest": state_digest(model),
            "strangers": stranger_rank(model, both, columns, target, strangers),
        }
        if shadows is not None:
            scores = window_scores(model, X_p, y_p)
            # Member-likeness of every model, for figures only (P's data: private).
            entry["private"] = {"screen": shadows.check(scores, against="members")}
            if name == "original" or (name == "model" and not exact):
                against = "unlearned" if name == "model" and shadows.unlearned else "members"
                entry["privacy"] = shadows.check(scores, against=against)
        report[name] = entry
    if "model" in models and "gold" in models:
        updated, gold = models["model"], models["gold"]
        digests = [
            report[name]["digest"] if name in report else state_digest(models[name])
            for name in ("model", "gold")
        ]
        report["identical"] = digests[0] == digests[1] if exact else None
        report["agreement"] = _agreement(updated, gold, test, columns)
        report["agreement_on_participant"] = _agreement(updated, gold, forget, columns)
    if len(strangers) < MIN_STRANGERS:
        report["notes"].append(
            f"{len(strangers)} never-seen participant(s) for evaluation (fewer than "
            f"{MIN_STRANGERS}): no accuracy on strangers, and P is not ranked among them"
            if not strangers
            else f"only {len(strangers)} never-seen participant(s) for evaluation (fewer than "
            f"{MIN_STRANGERS}): P is not ranked among them"
        )
    if shadows is not None and shadows.seeds_only:
        report["notes"].append(
            "the shadow models could only vary their seeds (no participant outside the model's "
            "own): 'out' is the retrained model's spread over seeds"
        )
    return report


def _agreement(first, second, table: pd.DataFrame, columns: list[str]) -> float | None:
    if table.empty:
        return None
    X = table[columns].to_numpy(dtype=float)
    return float(np.mean(first.predict(X) == second.predict(X)))


def public_report(value):
    """A report without the figures computed from P's windows (:data:`PRIVATE`), recursively.

    Parameters
    ----------
    value : dict | list | object
        A report of :func:`forgetting_report` (or any part of one).

    Returns
    -------
    public : same type
        A copy without the private fields; what may be kept after P is gone.
    """
    if isinstance(value, dict):
        return {k: public_report(v) for k, v in value.items() if k not in PRIVATE}
    if isinstance(value, list):
        return [public_report(v) for v in value]
    return value
