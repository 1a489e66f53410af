"""Did forgetting work? Accuracy, agreement with the gold model, and P's privacy.

A forgetting is measured on three models: the **original** (trained with
the participant P), the **updated** one (after the strategy ran) and the
**gold** model retrained from scratch without P. For each:

- accuracy on P's windows, on the remaining training windows and on the
  windows of evaluation strangers (participants no model saw);
- the participant-level privacy check of
  :mod:`eeg4students.unlearning.privacy` (P's likelihood ratio against
  shadow models with and without P): the original should fail it, the gold
  and a good update pass it;
- where P's score falls among the evaluation strangers' scores.

Agreement is the share of P's and the strangers' windows where the updated
and gold models predict the same task.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from eeg4students.unlearning.privacy import (
    MIN_STRANGERS,
    Shadows,
    participant_score,
    stranger_rank,
)


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
        P's shadow models; None skips the privacy check.
    skip : tuple of str
        Models given only for the agreement, not measured (already known).

    Returns
    -------
    report : dict
        Per model: ``forget_accuracy``, ``remain_accuracy``, ``test_accuracy``
        (NaN without strangers), ``privacy`` (the check, or None) and
        ``strangers`` (P's rank among the strangers, or None);
        ``agreement`` (updated vs gold), ``n_strangers`` and ``notes``.
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
            "strangers": stranger_rank(model, both, columns, target, strangers),
        }
        if shadows is not None:
            entry["privacy"] = shadows.check(participant_score(model, X_p, y_p))
        report[name] = entry
    if "model" in models and "gold" in models:
        X = both[columns].to_numpy(dtype=float)
        report["agreement"] = float(
            np.mean(models["model"].predict(X) == models["gold"].predict(X))
        )
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
