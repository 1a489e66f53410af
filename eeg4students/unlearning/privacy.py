"""Is the participant who withdrew forgotten? A participant-level likelihood-ratio test.

The unit of privacy is a person: P is forgotten when the updated model treats
P's windows as a model that never saw P would. This module measures that
directly, after LiRA (Carlini et al., 2022) used as an unlearning evaluation
(U-LiRA: Hayes et al., 2024):

1. **Score.** A model's score for a participant is the mean over their
   windows of the logit of the probability the model gives the true task,
   ``log(p / (1 - p))`` (p clipped to [1e-4, 1 - 1e-4]; TMV is scored by
   its top base). Models that trained on a person score them high.
2. **Shadow models.** ``n_shadows`` copies of the model's pipeline (same
   kind and settings, their own seeds) are trained on random sets of the
   evaluation pool: half of them *with* P plus ``m - 1`` other participants
   (the original model's size, ``m`` = its training participants), half
   *without* P, on ``m - 1`` others (the retrained model's size). Their
   scores for P give P's "in" and "out" distributions, each a Gaussian. When
   the pool holds no one but the model's own participants, the shadows differ
   only by their seeds, and the result says so. Each distribution is the
   predictive distribution of a new model's score given the shadows' scores:
   a Student t with ``n - 1`` degrees of freedom around their mean, scale
   ``sd * sqrt(1 + 1/n)`` (Gaussian as ``n`` grows), so that a few shadows
   do not make a model that never saw P look like an outlier.
3. **Test.** The likelihood ratio ``LLR = log N(s; in) - log N(s; out)`` of
   a model's score ``s`` for P says how much more a model that saw P
   explains it. A model that never saw P falls outside the central
   ``1 - fpr`` (95%) of the "out" distribution with probability ``fpr``, half
   on each side: above the LLR ``threshold`` (the ``1 - fpr / 2`` quantile of
   the LLR under "out") P is **not forgotten** (member-like); below the
   ``fpr / 2`` quantile of the "out" scores P is **over-forgotten** (the model
   is worse on P than any model that never saw P would be, which singles P
   out just as well); in between P counts as **forgotten**. The attack's
   **power** is the share of the "in" Gaussian above the threshold: when it
   is low, in and out overlap and passing says little.

The original model (trained with P) fails this check, the gold model
retrained without P passes it (with probability ``1 - fpr``), and an
unlearned model passes when P's score is as likely under "out" as the gold's.
Over many target participants, :func:`attack_summary` gives the attack's AUC
and its true-positive rate at ``fpr`` false positives, where positives are the
forgotten participants under their updated models and negatives the same
participants under held-out shadow models that never saw them.

Never-seen participants (strangers) are kept apart in two disjoint sets:
*calibration* strangers serve stopping rules (ConMU's noise schedule),
*evaluation* strangers the reported figures. :func:`stranger_rank` places
P's score among the evaluation strangers' scores under the same model.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from scipy.stats import norm, t

from eeg4students.models.tmv import TimeMajorityVoting
from eeg4students.modelstore import fit_estimator

#: False-positive rate of the privacy check.
FPR = 0.05
#: Shadow models per check (half with the participant, half without).
N_SHADOWS = 16
#: Smallest spread (logit units) of a score distribution, so that seed-only shadows
#: with nearly equal scores do not make any difference look significant.
SIGMA_FLOOR = 0.05
#: An attack with less power than this cannot tell in from out: the check is weak.
MIN_POWER = 0.5
#: Fewest evaluation strangers to compare P with.
MIN_STRANGERS = 3
_CLIP = 1e-4
_GRID = norm.ppf((np.arange(4001) + 0.5) / 4001)


def class_scores(model, X) -> np.ndarray:
    """Probability-like class scores, shape (n_windows, n_classes), rows summing to 1.

    TMV is scored by its top base. Models without ``predict_proba`` (SVC
    pipelines) use the softmax of their decision function.
    """
    if isinstance(model, TimeMajorityVoting):
        return class_scores(model.estimators_[0], X)
    if hasattr(model, "predict_proba"):
        try:
            return np.asarray(model.predict_proba(X))
        except AttributeError:
            pass
    decision = np.asarray(model.decision_function(X))
    if decision.ndim == 1:
        decision = np.stack([-decision, decision], axis=1)
    decision = decision - decision.max(axis=1, keepdims=True)
    exp = np.exp(decision)
    return exp / exp.sum(axis=1, keepdims=True)


def participant_score(model, X: np.ndarray, y: np.ndarray) -> float:
    """Mean logit of the true task's probability over a participant's windows.

    Parameters
    ----------
    model : fitted classifier
    X : ndarray, shape (n_windows, n_features)
    y : ndarray, shape (n_windows,)
        True task of every window.

    Returns
    -------
    score : float
        Higher means the model is surer of this person's true tasks.
    """
    scores = class_scores(model, X)
    column = {label: i for i, label in enumerate(model.classes_)}
    p = np.array([scores[i, column[t]] if t in column else 0.0 for i, t in enumerate(y)])
    p = np.clip(p, _CLIP, 1 - _CLIP)
    return float(np.mean(np.log(p) - np.log1p(-p)))


def _predictive(values: np.ndarray) -> tuple[float, float, float]:
    """(degrees of freedom, mean, scale) of the t predictive distribution of a new score."""
    values = np.asarray(values, dtype=float)
    n = len(values)
    spread = max(float(values.std(ddof=1)) if n > 1 else 0.0, SIGMA_FLOOR)
    return float(max(n - 1, 1)), float(values.mean()), spread * float(np.sqrt(1 + 1 / n))


def _llr(s, inside, outside):
    return t.logpdf(s, *inside) - t.logpdf(s, *outside)


@dataclass
class Shadows:
    """A participant's score distributions under shadow models with and without them.

    Attributes
    ----------
    participant : str
    in_scores, out_scores : ndarray
        The participant's score under each shadow trained with / without them.
    pool : list of str
        Participants the shadows drew their training sets from.
    seeds_only : bool
        True when every "out" shadow had the same training set (the pool held
        no one else): the "out" spread is then the retrained model's spread
        over seeds alone.
    """

    participant: str
    in_scores: np.ndarray
    out_scores: np.ndarray
    pool: list[str] = field(default_factory=list)
    seeds_only: bool = False

    def llr(self, score: float, *, leave_out: int | None = None) -> float:
        """Log-likelihood ratio of a score: in over out (``leave_out``: an out shadow to drop)."""
        out = self.out_scores
        if leave_out is not None:
            out = np.delete(out, leave_out)
        return float(_llr(score, _predictive(self.in_scores), _predictive(out)))

    def _under(self, which: np.ndarray) -> np.ndarray:
        """The LLR over an even grid of quantiles of one predictive distribution."""
        df, loc, scale = _predictive(which)
        scores = loc + scale * t.ppf(norm.cdf(_GRID), df)
        return _llr(scores, _predictive(self.in_scores), _predictive(self.out_scores))

    def threshold(self, fpr: float = FPR) -> float:
        """The LLR a model that never saw the participant exceeds with probability ``fpr / 2``."""
        return float(np.quantile(self._under(self.out_scores), 1 - fpr / 2))

    def floor(self, fpr: float = FPR) -> float:
        """The score a never-seen model for the participant is below with probability fpr / 2."""
        df, loc, scale = _predictive(self.out_scores)
        return float(loc + scale * t.ppf(fpr / 2, df))

    def power(self, fpr: float = FPR) -> float:
        """Share of models that saw the participant whose LLR exceeds the threshold."""
        return float(np.mean(self._under(self.in_scores) > self.threshold(fpr)))

    def check(self, score: float, fpr: float = FPR) -> dict:
        """The privacy check of a model whose score for the participant is ``score``.

        Returns
        -------
        result : dict
            ``score``, ``llr``, ``threshold``, ``floor``, ``verdict``
            (``"forgotten"``, ``"not forgotten"`` or ``"over-forgotten"``),
            ``forgotten`` (the verdict is "forgotten"), ``power`` and
            ``conclusive`` (power at least :data:`MIN_POWER`), ``in_mean``,
            ``out_mean``, ``shadows`` (count) and ``seeds_only``.
        """
        llr, threshold, floor = self.llr(score), self.threshold(fpr), self.floor(fpr)
        power = self.power(fpr)
        if llr > threshold:
            verdict = "not forgotten"
        elif score < floor:
            verdict = "over-forgotten"
        else:
            verdict = "forgotten"
        return {
            "score": round(float(score), 4),
            "llr": round(llr, 3),
            "threshold": round(threshold, 3),
            "floor": round(floor, 4),
            "verdict": verdict,
            "forgotten": verdict == "forgotten",
            "power": round(power, 3),
            "conclusive": bool(power >= MIN_POWER),
            "in_mean": round(float(np.mean(self.in_scores)), 4),
            "out_mean": round(float(np.mean(self.out_scores)), 4),
            "shadows": len(self.in_scores) + len(self.out_scores),
            "seeds_only": self.seeds_only,
        }


def reseeded(estimator, seed: int):
    """A copy of an unfitted estimator with every ``random_state`` in it set to ``seed``."""
    from sklearn.base import clone

    copy = clone(estimator)
    seeds = {k: seed for k in copy.get_params(deep=True) if k.endswith("random_state")}
    return copy.set_params(**seeds) if seeds else copy


def fit_shadows(
    table: pd.DataFrame,
    columns: list[str],
    participant: str,
    pool: list[str],
    n_members: int,
    template,
    *,
    n_shadows: int = N_SHADOWS,
    seed: int = 0,
) -> Shadows:
    """Train shadow models with and without a participant and score them.

    Parameters
    ----------
    table : pandas.DataFrame
        Feature table holding the windows of every participant in ``pool``.
    columns : list of str
        Feature columns.
    participant : str
        The target (in ``pool``).
    pool : list of str
        Participants the shadows draw their training sets from.
    n_members : int
        Participants the original model was trained on (``m``): "in" shadows
        train on the target and ``m - 1`` others, "out" shadows on ``m - 1``
        others.
    template : callable
        Returns a new unfitted estimator of the model's kind and settings.
    n_shadows : int
        Shadow models (rounded up to even; half in, half out).
    seed : int
        Seed of the training sets and of the shadows' own seeds.

    Returns
    -------
    shadows : Shadows
    """
    others = sorted(p for p in pool if p != participant)
    if n_members - 1 > len(others):
        raise ValueError(
            f"The pool has {len(others)} participants besides {participant}; shadows need "
            f"{n_members - 1}."
        )
    if n_members < 2:
        raise ValueError("Shadow models need an original model trained on two or more people.")
    rng = np.random.default_rng(seed)
    half = max(1, (n_shadows + 1) // 2)
    plans = []
    for k in range(2 * half):
        chosen = sorted(rng.choice(others, n_members - 1, replace=False).tolist())
        plans.append((k < half, chosen, seed * 1000 + k + 1))
    target_rows = table[table["participant"] == participant]
    X_t = target_rows[columns].to_numpy(dtype=float)
    y_t = target_rows["task"].to_numpy()

    def one(with_target: bool, chosen: list[str], shadow_seed: int) -> float:
        people = [*chosen, participant] if with_target else chosen
        estimator = reseeded(template(), shadow_seed)
        model = fit_estimator(estimator, table[table["participant"].isin(people)], columns)
        return participant_score(model, X_t, y_t)

    scores = Parallel()(delayed(one)(w, c, s) for w, c, s in plans)
    inside = np.array([s for (w, _, _), s in zip(plans, scores, strict=True) if w])
    outside = np.array([s for (w, _, _), s in zip(plans, scores, strict=True) if not w])
    return Shadows(
        participant=participant,
        in_scores=inside,
        out_scores=outside,
        pool=sorted(pool),
        seeds_only=len(others) == n_members - 1,
    )


def stranger_rank(model, table: pd.DataFrame, columns: list[str], participant: str, strangers):
    """Where P's score falls among never-seen participants' scores under the same model.

    Parameters
    ----------
    model : fitted classifier
    table : pandas.DataFrame
        Feature table with P's and the strangers' windows.
    columns : list of str
    participant : str
        P.
    strangers : sequence of str
        Participants the model never saw (at least :data:`MIN_STRANGERS`).

    Returns
    -------
    rank : dict | None
        ``share_above`` (share of strangers P scores above: 0.5 is a typical
        stranger, 1.0 above every one), ``score`` and ``strangers`` (count);
        None when there are too few strangers.
    """
    strangers = sorted(strangers)
    if len(strangers) < MIN_STRANGERS:
        return None

    def score(person: str) -> float:
        rows = table[table["participant"] == person]
        return participant_score(
            model, rows[columns].to_numpy(dtype=float), rows["task"].to_numpy()
        )

    mine = score(participant)
    theirs = np.array([score(p) for p in strangers])
    return {
        "share_above": round(float(np.mean(mine > theirs)), 3),
        "score": round(mine, 4),
        "strangers": len(strangers),
    }


def calibration_check(model, X_p, y_p, calibration, fpr: float = FPR) -> dict:
    """Can a cheap attack tell P from calibration strangers under this model?

    P's score is compared with each calibration stranger's score under the same
    model: P passes when it lies within the strangers' central ``1 - fpr``
    (with few strangers, about between their lowest and highest), neither more
    member-like nor more conspicuously forgotten than they are. Used by
    stopping rules; the reported figures use other, evaluation strangers.

    Parameters
    ----------
    model : fitted classifier
    X_p, y_p : ndarray
        P's windows and true tasks.
    calibration : (X, y, participants)
        The calibration strangers' windows, tasks and labels.
    fpr : float

    Returns
    -------
    result : dict
        ``score`` (P's), ``low`` and ``high`` (the strangers' quantiles) and
        ``passed``.
    """
    X, y, people = calibration
    theirs = [participant_score(model, X[people == p], y[people == p]) for p in np.unique(people)]
    mine = participant_score(model, X_p, y_p)
    low, high = (float(v) for v in np.quantile(theirs, [fpr / 2, 1 - fpr / 2]))
    return {
        "score": round(mine, 4),
        "low": round(low, 4),
        "high": round(high, 4),
        "passed": bool(low <= mine <= high),
    }


def split_strangers(strangers, seed: int = 0) -> tuple[list[str], list[str]]:
    """Split never-seen participants into disjoint calibration and evaluation sets.

    The evaluation set gets the larger half, so that reported figures rest on
    as many strangers as possible; calibration gets the rest.
    """
    people = sorted(strangers)
    rng = np.random.default_rng(seed)
    order = [people[i] for i in rng.permutation(len(people))]
    n_cal = len(people) // 2
    return sorted(order[:n_cal]), sorted(order[n_cal:])


def attack_summary(positives, negatives, fpr: float = FPR) -> dict:
    """AUC and true-positive rate at a false-positive rate, from LLRs.

    Parameters
    ----------
    positives : sequence of float
        LLR of each forgotten participant under its updated model.
    negatives : sequence of float
        LLR of the same participants under models that never saw them.
    fpr : float

    Returns
    -------
    summary : dict
        ``auc`` (0.5: the updated models cannot be told from ones that never
        saw the participants), ``tpr`` at ``fpr``, and the counts.
    """
    pos, neg = np.asarray(positives, float), np.asarray(negatives, float)
    greater = (pos[:, None] > neg[None, :]).mean()
    ties = (pos[:, None] == neg[None, :]).mean()
    threshold = np.quantile(neg, 1 - fpr)
    return {
        "auc": round(float(greater + 0.5 * ties), 3),
        "tpr": round(float(np.mean(pos > threshold)), 3),
        "positives": len(pos),
        "negatives": len(neg),
    }
