"""ConMU-style controllable unlearning for Random Forest, RBF SVM and TMV.

ConMU (controllable machine unlearning) has three modules, each a knob on
the privacy / utility / run-time trade-off. For the classical models here,
at the level of a whole participant P, they become:

1. **Important-data selection** (``band``). Each remaining training window is
   scored by its loss under an *unlearning proxy* (module 3): 1 - the
   proxy's probability of its true task. Only windows whose loss lies within
   ``band`` standard deviations of the mean loss are kept for the refit.
   Smaller ``band``: less data, a faster refit, some utility lost (the
   hardest and the easiest windows go first). ``band=None`` keeps all. The
   proxy never saw P, so the selection does not depend on P (scoring with the
   model trained with P made privacy worse: the windows P had taught it to
   get right were kept).
2. **Gaussian mechanism**: for models with a smooth convex loss it is the
   objective perturbation of certified removal (:mod:`eeg4students.models.certified`,
   ``forget --strategy certified``), whose ``epsilon`` is the privacy knob.
   Noisy copies of P's windows, which this module once added to the refit,
   are gone: a withdrawal deletes P's data, and a model fitted on perturbed
   copies of it has not.
3. **Unlearning proxy** (``proxy_fraction``): a small model that never saw P
   (a 50-tree forest on ``proxy_fraction`` of the remaining windows); it
   scores the selection. A larger share makes a better scorer and costs
   more time.

The refit never sees P's windows: ConMU is a retrain on a selection, and
approximate only in that the selection changes the model. The forgetting's
audit record says so, with a calibration attack's verdict (P's score among
calibration strangers: informational) and, with ``forget --evaluate``, the
participant-level check of :mod:`eeg4students.unlearning.privacy`.

For RF the refit grows a new forest; for the RBF SVM pipeline, a new scaler
and SVM; for TMV, both bases and its ranking (inner time-blocked CV) on the
selected data.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np
from sklearn.base import clone
from sklearn.ensemble import RandomForestClassifier

from eeg4students.models import fit_model
from eeg4students.unlearning.privacy import calibration_check, class_scores


@dataclass(frozen=True)
class ConMUSettings:
    """Knobs of :func:`conmu_forget` (see the module docstring).

    Attributes
    ----------
    band : float | None
        Keep remaining windows whose loss (under the proxy) is within ``band``
        std of the mean; None keeps all.
    proxy_fraction : float
        Share of the remaining windows the proxy model is trained on.
    random_state : int
        Seed of the proxy's data and trees.
    """

    band: float | None = 1.0
    proxy_fraction: float = 0.25
    random_state: int = 0

    def as_dict(self) -> dict:
        """The settings as plain values."""
        return asdict(self)


def select_important(scorer, X, y, band: float | None) -> np.ndarray:
    """Indices of the windows whose loss under ``scorer`` lies within ``band`` std of the mean."""
    if band is None:
        return np.arange(len(X))
    scores = class_scores(scorer, X)
    columns = np.searchsorted(scorer.classes_, y)
    found = columns < len(scorer.classes_)
    columns = np.minimum(columns, len(scorer.classes_) - 1)
    found &= scorer.classes_[columns] == y
    loss = 1.0 - np.where(found, scores[np.arange(len(X)), columns], 0.0)
    keep = np.abs(loss - loss.mean()) <= band * loss.std() + 1e-12
    return np.flatnonzero(keep)


def conmu_forget(
    model,
    template,
    *,
    remain: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    forget: tuple[np.ndarray, np.ndarray],
    calibration: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    settings: ConMUSettings | None = None,
) -> tuple[object, dict]:
    """Unlearn participant P from ``model``: a refit on remaining windows a proxy selected.

    Parameters
    ----------
    model : fitted estimator
        The model trained with P (not used: nothing of it is kept).
    template : estimator
        An unfitted estimator of the same kind and settings (for the refit).
    remain : (X, y, blocks, participants)
        The remaining training windows.
    forget : (X, y)
        P's windows, and their true tasks (used only for the calibration
        attack's verdict, never to train).
    calibration : (X, y, participants) | None
        Windows of calibration strangers (participants the model never saw,
        disjoint from any used for reported figures).
    settings : ConMUSettings | None

    Returns
    -------
    model : fitted estimator
        The updated model.
    info : dict
        ``times`` (seconds per stage: proxy, selection, refit), ``n_selected``,
        ``calibration`` (the attack's verdict, or None) and ``note``.
    """
    del model  # the selection is scored by a proxy that never saw P, not by this model
    settings = settings or ConMUSettings()
    X, y, blocks, participants = remain
    X_p, y_p = forget
    rng = np.random.default_rng(settings.random_state)
    times, note = {}, ""
    start = time.perf_counter()
    selected = np.arange(len(X))
    if settings.band is not None:
        n_proxy = max(len(np.unique(y)) * 2, round(settings.proxy_fraction * len(X)))
        rows = rng.choice(len(X), min(n_proxy, len(X)), replace=False)
        proxy = RandomForestClassifier(50, random_state=settings.random_state, n_jobs=1)
        proxy.fit(X[rows], y[rows])
        times["proxy"] = time.perf_counter() - start
        start = time.perf_counter()
        selected = select_important(proxy, X, y, settings.band)
        if len(np.unique(y[selected])) < 2:
            note = "the selection kept fewer than two tasks: every remaining window was used"
            selected = np.arange(len(X))
        times["selection"] = time.perf_counter() - start
    start = time.perf_counter()
    updated = fit_model(
        clone(template), X[selected], y[selected], blocks[selected], participants[selected]
    )
    times["refit"] = time.perf_counter() - start
    final = calibration_check(updated, X_p, y_p, calibration) if calibration is not None else None
    return updated, {
        "times": times,
        "n_selected": int(len(selected)),
        "calibration": final,
        "note": note,
    }
