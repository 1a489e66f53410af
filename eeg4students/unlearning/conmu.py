"""ConMU-style controllable unlearning for Random Forest, RBF SVM and TMV.

ConMU (controllable machine unlearning) has three modules, each a knob on
the privacy / utility / run-time trade-off. The published method fine-tunes
neural networks; here every module is carried over to models that are refit
rather than fine-tuned, at the level of a whole participant P:

1. **Important-data selection** (``band``). Each remaining training window is
   scored by its loss under the current model (1 - the score of its true
   class; for TMV, under its top base). Only windows whose loss lies within
   ``band`` standard deviations of the mean loss are kept for the refit.
   Smaller ``band``: less data, a faster refit, some utility lost (the
   hardest and the easiest windows go first). ``band=None`` keeps all. For
   every model type the refit itself never sees P's real windows.
2. **Progressive Gaussian mechanism** (``noise_steps``, ``noise_start``,
   ``noise_growth``). P's windows, with Gaussian noise of ``sigma`` feature
   standard deviations, are added to the refit set with the proxy's labels
   (module 3); ``sigma`` starts at ``noise_start`` and is multiplied by
   ``noise_growth`` at each step. After each refit a cheap calibration
   attack compares P's score (the mean logit of the true task's
   probability) with the scores of *calibration strangers*, never-seen
   participants kept apart from those any reported figure uses; the loop
   stops when P no longer stands out from them, or after ``noise_steps``
   refits. These copies carry P-derived data into the model, so if P still
   stands out after the last step the noisy model is discarded and the refit
   without them is kept, and the result says so; without calibration
   strangers the module is not used at all. Low noise keeps more of P's
   region in the model (utility, less privacy); each step costs one refit
   (run time). With ``noise_steps=0`` no noisy copies are used.
3. **Unlearning proxy** (``proxy_fraction``, ``proxy_weight``). A small model
   that never saw P (a 50-tree forest on ``proxy_fraction`` of the selected
   remaining windows) labels P's windows; the noisy copies of P's windows
   carry those labels, so on P's region the refit is pulled toward what a
   stranger-trained model says. ``proxy_weight`` is how many noisy copies
   per P window enter the refit (0.5: half of them): more weight pulls
   harder and costs a larger refit (run time).

ConMU is approximate: the forgetting's audit record says so, with the
calibration attack's verdict (and, with ``forget --evaluate``, the
participant-level check of :mod:`eeg4students.unlearning.privacy`).

For RF the refit grows a new forest; for the RBF SVM pipeline, a new scaler
and SVM; for TMV, both bases and its ranking (inner time-blocked CV) on the
selected data, the noisy copies forming their own pseudo-blocks.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np
from sklearn.base import clone
from sklearn.ensemble import RandomForestClassifier

from eeg4students.models import fit_model
from eeg4students.unlearning.privacy import calibration_check, class_scores

PROXY_PARTICIPANT = "~proxy"


@dataclass(frozen=True)
class ConMUSettings:
    """Knobs of :func:`conmu_forget` (see the module docstring).

    Attributes
    ----------
    band : float | None
        Keep remaining windows whose loss is within ``band`` std of the mean.
    noise_steps : int
        Most refits of the progressive Gaussian mechanism (0: no noisy copies).
    noise_start, noise_growth : float
        First noise level (feature std units) and its factor per step.
    proxy_fraction : float
        Share of the selected windows the proxy model is trained on.
    proxy_weight : float
        Noisy copies per window of P in the refit.
    random_state : int
        Seed of the selection, noise and proxy.
    """

    band: float | None = 1.0
    noise_steps: int = 3
    noise_start: float = 0.5
    noise_growth: float = 2.0
    proxy_fraction: float = 0.25
    proxy_weight: float = 1.0
    random_state: int = 0

    def as_dict(self) -> dict:
        """The settings as plain values."""
        return asdict(self)


def select_important(model, X, y, band: float | None) -> np.ndarray:
    """Indices of the windows whose loss lies within ``band`` std of the mean."""
    if band is None:
        return np.arange(len(X))
    scores = class_scores(model, X)
    columns = np.searchsorted(model.classes_, y)
    loss = 1.0 - scores[np.arange(len(X)), columns]
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
    """Unlearn participant P from ``model`` with the three ConMU modules.

    Parameters
    ----------
    model : fitted estimator
        The model trained with P.
    template : estimator
        An unfitted estimator of the same kind and settings (for the refit).
    remain : (X, y, blocks, participants)
        The remaining training windows.
    forget : (X, y)
        P's windows, and their true tasks (used only to measure P's privacy,
        never to train).
    calibration : (X, y, participants) | None
        Windows of calibration strangers (participants the model never saw,
        disjoint from any used for reported figures), for the stopping rule.
    settings : ConMUSettings | None

    Returns
    -------
    model : fitted estimator
        The updated model.
    info : dict
        ``times`` (seconds per stage: selection, proxy, refits), ``steps``
        (noise level and the calibration attack's verdict, per step),
        ``n_selected``, ``n_pseudo`` (noisy copies in the kept model),
        ``calibration`` (the final verdict, or None) and ``note``.
    """
    settings = settings or ConMUSettings()
    X, y, blocks, participants = remain
    X_p, y_p = forget
    rng = np.random.default_rng(settings.random_state)
    times, note = {}, ""
    start = time.perf_counter()
    selected = select_important(model, X, y, settings.band)
    times["selection"] = time.perf_counter() - start
    Xs, ys, bs, ps = X[selected], y[selected], blocks[selected], participants[selected]

    def refit(extra_X=None, extra_y=None):
        if extra_X is None or not len(extra_X):
            return fit_model(clone(template), Xs, ys, bs, ps)
        pseudo_blocks = np.array([f"{PROXY_PARTICIPANT}-{i // 20}" for i in range(len(extra_X))])
        return fit_model(
            clone(template),
            np.vstack([Xs, extra_X]),
            np.concatenate([ys, extra_y]),
            np.concatenate([bs, pseudo_blocks]),
            np.concatenate([ps, np.full(len(extra_X), PROXY_PARTICIPANT)]),
        )

    n_pseudo = round(settings.proxy_weight * len(X_p)) if settings.noise_steps else 0
    if n_pseudo and calibration is None:
        n_pseudo = 0
        note = (
            "no calibration strangers (participants the model never saw) to stop the noise "
            "on: the noisy copies of P's windows were not used"
        )
    steps, updated = [], None
    start = time.perf_counter()
    if n_pseudo:
        n_proxy = max(len(np.unique(ys)) * 2, round(settings.proxy_fraction * len(Xs)))
        proxy_rows = rng.choice(len(Xs), min(n_proxy, len(Xs)), replace=False)
        proxy = RandomForestClassifier(50, random_state=settings.random_state, n_jobs=1)
        proxy.fit(Xs[proxy_rows], ys[proxy_rows])
        proxy_labels = proxy.predict(X_p)
        times["proxy"] = time.perf_counter() - start
        start = time.perf_counter()
        rows = rng.choice(len(X_p), n_pseudo, replace=n_pseudo > len(X_p))
        spread = X.std(axis=0) + 1e-12
        sigma = settings.noise_start
        for _ in range(settings.noise_steps):
            noisy = X_p[rows] + rng.normal(0, 1, (n_pseudo, X.shape[1])) * sigma * spread
            updated = refit(noisy, proxy_labels[rows])
            verdict = calibration_check(updated, X_p, y_p, calibration)
            steps.append({"sigma": sigma, **verdict})
            if verdict["passed"]:
                break
            sigma *= settings.noise_growth
        if not steps[-1]["passed"]:
            note = (
                f"P still stood out from the calibration strangers after {len(steps)} noise "
                "step(s): the noisy copies of P's windows were discarded and the refit without "
                "them kept"
            )
            updated, n_pseudo = None, 0
    if updated is None:
        updated = refit()
    times["refits"] = time.perf_counter() - start
    final = calibration_check(updated, X_p, y_p, calibration) if calibration is not None else None
    return updated, {
        "times": times,
        "steps": steps,
        "n_selected": int(len(selected)),
        "n_pseudo": int(n_pseudo),
        "calibration": final,
        "note": note,
    }
