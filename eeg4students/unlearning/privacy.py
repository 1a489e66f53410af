"""Is the participant who withdrew forgotten? A calibrated participant-level test.

The unit of privacy is a person: P is forgotten when the updated model treats
P's windows as a model that never saw P would. The test follows LiRA
(Carlini et al., 2022) and its use for unlearning, U-LiRA (Hayes et al.,
2024), at the level of a participant:

1. **Window scores.** A model's score of one of P's windows is the logit of
   the probability it gives the window's true task, ``log(p / (1 - p))``
   (p clipped to [1e-4, 1 - 1e-4]; models without probabilities use the
   softmax of their decision function). A Time Majority Voting model is
   scored by **each** of its voting bases.
2. **Shadow models** of the model's kind and settings, with their own seeds,
   trained on random sets of the evaluation pool: ``out`` shadows never see
   P (``m - 1`` others, the retrained model's size), ``member`` shadows are
   trained with P (P and ``m - 1`` others, the original's size) and, for an
   approximate strategy, ``unlearned`` shadows are member shadows from which
   P was then removed by the same strategy and settings (U-LiRA as
   published: can the strategy's output be told from a retrain?).
3. **Statistic.** Per window, the "out" mean ``mu_w`` and a spread ``v_w``
   (of the reference shadows, shrunk halfway to their median) give a
   direction ``d_w = (mean_ref_w - mu_w) / v_w``; a model's statistic is
   ``z = d . (s - mu) / sd_out(d . s)``, the projection of its window scores
   on that direction in units of the "out" shadows' own spread, times
   ``1 / sqrt(1 + 1/n)``. It is linear in the window scores, so the test is
   **one-sided and monotone**: a model surer of P's true tasks where
   reference models are surer is never judged more forgotten. Summing over
   windows is what catches models that remember P a little on every window
   (an SVM), where the mean score alone does not.
4. **Calibration.** For a model that never saw P, ``z`` follows a Student t
   with ``n - 1`` degrees of freedom (``n`` "out" shadows) when window scores
   are Gaussian; to guard against the cases where they are not (heavy-tailed
   features, a few participants whose presence moves the scores), every
   "out" shadow is also scored leaving it out, as a new model would be, and
   when the root mean square of those ``n`` statistics exceeds 1 the
   threshold widens by that factor. With several bases, each is tested at
   ``fpr / bases``. Measured in ``benchmarks/bench_privacy.py`` over 500
   never-seen models per kind of a simulated hard cohort, and over 3,000
   models with correlated Gaussian window scores in ``tests/test_privacy.py``
   (3-7% there).
5. **Power.** Each member shadow is scored by a direction fitted without it,
   as an original model would be: the share of a t fitted to those scores
   above the threshold is the probability the test catches a model that
   still remembers P. Below :data:`MIN_POWER` (0.8) the verdict is
   **inconclusive**, with the reason, never "forgotten".

Verdicts: ``"not forgotten"`` (z above the threshold), ``"inconclusive"``
(not above, but the test could not have told), ``"forgotten"``. Exact
strategies (``retrain``, ``sharded``) get no probabilistic verdict: their
updated model is compared with a retrain by digest
(:mod:`eeg4students.unlearning.digest`).

Never-seen participants (strangers) are kept apart in two disjoint sets:
*calibration* strangers serve stopping rules (ConMU's noise schedule),
*evaluation* strangers the reported figures. :func:`stranger_rank` places
P's score among the evaluation strangers' scores under the same model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from scipy.stats import t

from eeg4students.models.tmv import TimeMajorityVoting
from eeg4students.names import PRIVACY_SHADOWS
from eeg4students.training import fit_estimator

#: Nominal false-positive rate of the privacy check.
FPR = 0.05
#: Shadow models per check: half never see the participant, half are trained with them.
N_SHADOWS = PRIVACY_SHADOWS
#: Fewest shadows per side for a test at all.
MIN_SIDE = 4
#: The test's power (its chance of catching a model that remembers P) below which
#: "not flagged" is "inconclusive", not "forgotten".
MIN_POWER = 0.8
#: Fewest evaluation strangers to compare P with.
MIN_STRANGERS = 3
#: The verdicts, in order of concern.
VERDICTS = ("not forgotten", "inconclusive", "forgotten")
_CLIP = 1e-4
#: The plain model's only "base".
WHOLE = "model"


def class_scores(model, X) -> np.ndarray:
    """Probability-like class scores, shape (n_windows, n_classes), rows summing to 1.

    TMV is scored by its top base here (see :func:`window_scores` for every
    base). Models without ``predict_proba`` (SVC pipelines) use the softmax of
    their decision function.
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


def _true_logits(model, X: np.ndarray, y: np.ndarray) -> np.ndarray:
    scores = class_scores(model, X)
    column = {label: i for i, label in enumerate(model.classes_)}
    p = np.array([scores[i, column[v]] if v in column else 0.0 for i, v in enumerate(y)])
    p = np.clip(p, _CLIP, 1 - _CLIP)
    return np.log(p) - np.log1p(-p)


def window_scores(model, X: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    """Logit of the true task's probability per window, for every voting base.

    Parameters
    ----------
    model : fitted classifier
    X : ndarray, shape (n_windows, n_features)
    y : ndarray, shape (n_windows,)

    Returns
    -------
    scores : dict of str to ndarray, shape (n_windows,)
        ``{"model": ...}`` for a plain model; one entry per voting base (by
        its name) for Time Majority Voting.
    """
    if isinstance(model, TimeMajorityVoting):
        names = list(getattr(model, "ranking_", []))[: len(model.estimators_)]
        if len(names) != len(model.estimators_):
            names = [f"base{i + 1}" for i in range(len(model.estimators_))]
        return {
            name: _true_logits(base, X, y)
            for name, base in zip(names, model.estimators_, strict=True)
        }
    return {WHOLE: _true_logits(model, X, y)}


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
    return float(np.mean(_true_logits(model, X, y)))


def _direction(out: np.ndarray, ref: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(out mean, direction) per window; spreads from the reference shadows, shrunk."""
    centre = out.mean(axis=0)
    spread = ref.var(axis=0, ddof=1) if len(ref) > 1 else np.ones(out.shape[1])
    spread = (spread + np.median(spread)) / 2
    return centre, (ref.mean(axis=0) - centre) / np.maximum(spread, 1e-8)


def _z(scores: np.ndarray, out: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """The statistic of score rows (any number) against "out" and reference shadows."""
    centre, direction = _direction(out, ref)
    spread = float(((out - centre) @ direction).std(ddof=1))
    if not np.isfinite(spread) or spread <= 0:
        spread = 1e-12
    scale = spread * np.sqrt(1 + 1 / len(out))
    return ((np.atleast_2d(scores) - centre) @ direction) / scale


@dataclass
class _BaseTest:
    """The calibrated test of one base: threshold in z units and the power against ``ref``."""

    out: np.ndarray
    ref: np.ndarray
    fpr: float

    def __post_init__(self) -> None:
        n = len(self.out)
        quantile = float(t.ppf(1 - self.fpr, n - 1))
        # Each "out" shadow scored as a new model would be (left out of its own fit).
        loo = np.array([_z(self.out[j], np.delete(self.out, j, 0), self.ref)[0] for j in range(n)])
        # Their root mean square (bias included) against a standard normal's 1: t's own,
        # slightly larger, would leave 6% false positives on SVMs of the hard cohort.
        widen = max(1.0, float(np.sqrt(np.mean(loo**2))))
        self.threshold = quantile * widen
        held = np.array(
            [_z(self.ref[i], self.out, np.delete(self.ref, i, 0))[0] for i in range(len(self.ref))]
        )
        spread = max(float(held.std(ddof=1)), 1e-9) * np.sqrt(1 + 1 / len(held))
        self.power = float(1 - t.cdf((self.threshold - held.mean()) / spread, len(held) - 1))

    def z(self, scores: np.ndarray) -> float:
        return float(_z(scores, self.out, self.ref)[0])


@dataclass
class Shadows:
    """A participant's window scores under shadow models that never saw them, saw them
    and (optionally) saw them and then forgot them by a strategy.

    Attributes
    ----------
    participant : str
    windows : int
        P's windows.
    out, members : dict of str to ndarray, shape (n_shadows, n_windows)
        P's window scores per base under each "out" / member shadow.
    unlearned : dict of str to ndarray | None
        The same under member shadows unlearned by a strategy (U-LiRA).
    pool : list of str
        Participants the shadows drew their training sets from.
    seeds_only : bool
        True when every "out" shadow had the same training set (the pool held
        no one else): the "out" spread is then the retrained model's over
        seeds alone.
    strategy : str | None
        The strategy the unlearned shadows ran.
    """

    participant: str
    windows: int
    out: dict[str, np.ndarray]
    members: dict[str, np.ndarray]
    unlearned: dict[str, np.ndarray] | None = None
    pool: list[str] = field(default_factory=list)
    seeds_only: bool = False
    strategy: str | None = None
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    def _reference(self, against: str) -> dict[str, np.ndarray]:
        if against == "unlearned":
            if self.unlearned is None:
                raise ValueError("These shadows were not unlearned by any strategy.")
            return self.unlearned
        return self.members

    def _tests(self, against: str, fpr: float) -> dict[str, _BaseTest]:
        """Each base's calibrated test (computed once per reference and rate)."""
        if (against, fpr) not in self._cache:
            ref = self._reference(against)
            bases = [b for b in self.out if b in ref]
            self._cache[against, fpr] = {
                b: _BaseTest(self.out[b], ref[b], fpr / len(bases)) for b in bases
            }
        return self._cache[against, fpr]

    def power(self, fpr: float = FPR) -> float:
        """Chance that the test catches a model trained with P (the member shadows')."""
        return max(test.power for test in self._tests("members", fpr).values())

    def check(
        self, scores: dict[str, np.ndarray], *, against: str = "members", fpr: float = FPR
    ) -> dict:
        """The privacy check of a model whose window scores of P are ``scores``.

        Parameters
        ----------
        scores : dict of str to ndarray, shape (n_windows,)
            From :func:`window_scores` (bases the shadows lack are not tested).
        against : {"members", "unlearned"}
            The reference: shadows trained with P (is the model member-like?),
            or shadows unlearned by the strategy (U-LiRA: can it be told from
            a retrain?).
        fpr : float
            Nominal false-positive rate.

        Returns
        -------
        result : dict
            ``verdict`` (one of :data:`VERDICTS`), ``forgotten``, ``fpr``,
            ``power`` (chance to catch a model trained with P), ``detected``
            (share of the reference shadows the test flags: for
            ``"unlearned"``, how often the strategy leaves P detectable),
            ``against``, ``shadows``, ``bases``, ``reason`` (why
            inconclusive) and, as figures computed from P's data that must
            not be kept once P is forgotten, ``private``: ``{"z", "threshold"}``
            per base.
        """
        tests = self._tests(against, fpr)
        member_tests = tests if against == "members" else self._tests("members", fpr)
        power = max(test.power for test in member_tests.values())
        detected = max(test.power for test in tests.values())
        zs = {b: test.z(scores[b]) for b, test in tests.items() if b in scores}
        flagged = any(zs[b] > tests[b].threshold for b in zs)
        reason = ""
        if flagged:
            verdict = "not forgotten"
        elif power < MIN_POWER:
            verdict = "inconclusive"
            reason = self._weakness(power)
        else:
            verdict = "forgotten"
        ref = self._reference(against)
        return {
            "verdict": verdict,
            "forgotten": verdict == "forgotten",
            "fpr": fpr,
            "power": round(power, 3),
            "detected": round(detected, 3),
            "against": against,
            "shadows": {
                "out": len(next(iter(self.out.values()))),
                against: len(next(iter(ref.values()))),
            },
            "bases": sorted(zs),
            "reason": reason,
            "seeds_only": self.seeds_only,
            "private": {
                b: {"z": round(zs[b], 3), "threshold": round(float(tests[b].threshold), 3)}
                for b in zs
            },
        }

    def _weakness(self, power: float) -> str:
        if self.seeds_only:
            why = "the shadows could only vary their seeds (no participant outside the model's)"
        else:
            why = f"{self.windows} windows of the participant" + (
                f", shadows drawn from {len(self.pool)} participants" if self.pool else ""
            )
        return (
            f"the test would catch a model that still remembers them only {power:.0%} of the "
            f"time ({why}); more windows, participants or shadows make it conclusive"
        )


def strongest(check: dict) -> dict:
    """The base of a check whose statistic is furthest above its threshold.

    Parameters
    ----------
    check : dict
        From :meth:`Shadows.check`.

    Returns
    -------
    base : dict
        ``base`` (its name), ``z``, ``threshold`` and ``margin`` (``z -
        threshold``; above 0: flagged). Computed from P's data: private.
    """
    name, values = max(check["private"].items(), key=lambda kv: kv[1]["z"] - kv[1]["threshold"])
    return {"base": name, **values, "margin": values["z"] - values["threshold"]}


def fit_shadows(
    table: pd.DataFrame,
    columns: list[str],
    participant: str,
    pool: list[str],
    n_members: int,
    template: Callable[[], object],
    *,
    n_shadows: int = N_SHADOWS,
    unlearn: Callable[[object, pd.DataFrame, pd.DataFrame], object] | None = None,
    strategy: str | None = None,
    seed: int = 0,
    n_jobs: int | None = None,
) -> Shadows:
    """Train shadow models with and without a participant and score P's windows.

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
        Participants the original model was trained on (``m``): member
        shadows train on the target and ``m - 1`` others, "out" shadows on
        ``m - 1`` others.
    template : callable
        Returns a new unfitted estimator of the model's kind and settings.
    n_shadows : int
        Shadow models, half "out", half members (at least ``2 * MIN_SIDE``).
    unlearn : callable | None
        ``unlearn(model, remain, forget) -> model``: the strategy under test,
        run on every member shadow (``remain``: its training rows without P;
        ``forget``: P's rows) to give the unlearned shadows.
    strategy : str | None
        Name of that strategy (recorded).
    seed : int
        Seed of the training sets and of the shadows' own seeds.
    n_jobs : int | None
        Shadows fitted in parallel (joblib's default backend and count).

    Returns
    -------
    shadows : Shadows

    Raises
    ------
    ValueError
        If the pool is too small or ``n_shadows`` below ``2 * MIN_SIDE``.
    """
    others = sorted(p for p in pool if p != participant)
    if n_members - 1 > len(others):
        raise ValueError(
            f"The pool has {len(others)} participants besides {participant}; shadows need "
            f"{n_members - 1}."
        )
    if n_members < 2:
        raise ValueError("Shadow models need an original model trained on two or more people.")
    if n_shadows < 2 * MIN_SIDE:
        raise ValueError(f"The privacy check needs at least {2 * MIN_SIDE} shadow models.")
    rng = np.random.default_rng(seed)
    half = (n_shadows + 1) // 2
    plans = []
    for k in range(2 * half):
        chosen = sorted(rng.choice(others, n_members - 1, replace=False).tolist())
        plans.append((k >= half, chosen, seed * 1000 + k + 1))
    target_rows = table[table["participant"] == participant]
    X_t = target_rows[columns].to_numpy(dtype=float)
    y_t = target_rows["task"].to_numpy()

    def one(member: bool, chosen: list[str], shadow_seed: int):
        people = [*chosen, participant] if member else chosen
        estimator = reseeded(template(), shadow_seed)
        model = fit_estimator(estimator, table[table["participant"].isin(people)], columns)
        scores = window_scores(model, X_t, y_t)
        forgot = None
        if member and unlearn is not None:
            remain = table[table["participant"].isin(chosen)]
            forgot = window_scores(unlearn(model, remain, target_rows), X_t, y_t)
        return scores, forgot

    results = Parallel(n_jobs=n_jobs)(delayed(one)(m, c, s) for m, c, s in plans)

    def stack(rows: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
        common = set.intersection(*(set(r) for r in rows))
        # A base that voted in some shadows only: scored on those that have it.
        every = sorted(set().union(*(set(r) for r in rows)))
        stacked = {b: np.array([r[b] for r in rows if b in r]) for b in every}
        return {b: v for b, v in stacked.items() if b in common or len(v) >= MIN_SIDE}

    out = stack([r[0] for (member, _, _), r in zip(plans, results, strict=True) if not member])
    members = stack([r[0] for (member, _, _), r in zip(plans, results, strict=True) if member])
    unlearned = None
    if unlearn is not None:
        unlearned = stack(
            [r[1] for (member, _, _), r in zip(plans, results, strict=True) if member]
        )
    return Shadows(
        participant=participant,
        windows=len(target_rows),
        out=out,
        members=members,
        unlearned=unlearned,
        pool=sorted(pool),
        seeds_only=len(others) == n_members - 1,
        strategy=strategy,
    )


def reseeded(estimator, seed: int):
    """A copy of an unfitted estimator with every ``random_state`` in it set to ``seed``."""
    from sklearn.base import clone

    copy = clone(estimator)
    seeds = {k: seed for k in copy.get_params(deep=True) if k.endswith("random_state")}
    return copy.set_params(**seeds) if seeds else copy


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


def attack_summary(positives, negatives, fprs: tuple[float, ...] = (0.05, 0.01)) -> dict:
    """AUC and true-positive rates at given false-positive rates, from statistics.

    Parameters
    ----------
    positives : sequence of float
        The statistic of models that saw the participants.
    negatives : sequence of float
        The statistic of models that never saw them.
    fprs : tuple of float
        False-positive rates of a global threshold (a quantile of the negatives).

    Returns
    -------
    summary : dict
        ``auc`` (0.5: the two kinds cannot be told apart), ``tpr@<fpr>`` per
        rate, and the counts.
    """
    pos, neg = np.asarray(positives, float), np.asarray(negatives, float)
    greater = (pos[:, None] > neg[None, :]).mean()
    ties = (pos[:, None] == neg[None, :]).mean()
    summary = {"auc": round(float(greater + 0.5 * ties), 3)}
    for rate in fprs:
        summary[f"tpr@{rate:g}"] = round(float(np.mean(pos > np.quantile(neg, 1 - rate))), 3)
    return {**summary, "positives": len(pos), "negatives": len(neg)}
