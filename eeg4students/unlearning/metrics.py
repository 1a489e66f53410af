"""Did forgetting work? Accuracy, membership inference and agreement with the gold model.

Privacy is at the level of a whole participant. Members are the participants
a model was trained on; non-members are participants it never saw. Two
attacks, as in ConMU:

- an SVC on per-window (confidence, entropy, correctness), trained on member
  and non-member participants' windows; its AUC is estimated with folds that
  keep participants whole, then it judges the forgotten participant's
  windows (the share called non-members: 1.0 means "looks like a stranger");
- a threshold on each participant's mean confidence; AUC over participants,
  and whether the forgotten participant falls on the member side.

A model that forgot P well scores P's windows like a never-seen
participant's, and agrees with the gold model retrained without P.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from eeg4students.models.tmv import TimeMajorityVoting


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


def attack_features(model, X, y) -> np.ndarray:
    """Per window: confidence (max score), entropy, correctness. Shape (n_windows, 3)."""
    scores = class_scores(model, X)
    labels = model.classes_[np.argmax(scores, axis=1)]
    entropy = -(scores * np.log(np.clip(scores, 1e-12, 1))).sum(axis=1)
    return np.column_stack([scores.max(axis=1), entropy, (labels == y).astype(float)])


def membership(
    model,
    member: tuple[np.ndarray, np.ndarray, np.ndarray],
    nonmember: tuple[np.ndarray, np.ndarray, np.ndarray],
    target: tuple[np.ndarray, np.ndarray],
    *,
    random_state: int = 0,
) -> dict:
    """Run both membership attacks against a model.

    Parameters
    ----------
    model : fitted estimator
    member, nonmember : (X, y, participants)
        Windows of participants the model was and was not trained on.
    target : (X, y)
        The forgotten participant's windows.

    Returns
    -------
    result : dict
        ``svc_auc`` (cross-validated with folds that keep participants whole
        when both sides have two or more participants),
        ``target_nonmember_share`` (share of the target's windows the SVC
        calls non-members), ``threshold_auc`` (over participants),
        ``target_mean_confidence``, ``target_called_member`` (threshold attack)
        and ``nonmember_mean_confidence``.
    """
    feats_m = attack_features(model, member[0], member[1])
    feats_n = attack_features(model, nonmember[0], nonmember[1])
    feats_t = attack_features(model, target[0], target[1])
    # Balance the classes so the attack cannot win by guessing the majority.
    rng = np.random.default_rng(random_state)
    n = min(len(feats_m), len(feats_n))
    pick_m = rng.choice(len(feats_m), n, replace=False)
    pick_n = rng.choice(len(feats_n), n, replace=False)
    X = np.vstack([feats_m[pick_m], feats_n[pick_n]])
    y = np.concatenate([np.ones(n), np.zeros(n)])
    groups = np.concatenate([member[2][pick_m], nonmember[2][pick_n]])
    attack = make_pipeline(StandardScaler(), SVC(random_state=random_state))
    # Folds keep participants whole and hold both classes; with a single member or
    # non-member participant that is impossible, and windows are split instead.
    n_splits = min(5, len(np.unique(member[2][pick_m])), len(np.unique(nonmember[2][pick_n])))
    if n_splits >= 2:
        folds = StratifiedGroupKFold(n_splits=n_splits)
        fold_groups = groups
    else:
        folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=random_state)
        fold_groups = None
    decision = cross_val_predict(
        attack, X, y, groups=fold_groups, cv=folds, method="decision_function"
    )
    attack.fit(X, y)
    called_member = attack.predict(feats_t)
    means_m = _per_participant(feats_m[:, 0], member[2])
    means_n = _per_participant(feats_n[:, 0], nonmember[2])
    scores = np.concatenate([means_m, means_n])
    truth = np.concatenate([np.ones(len(means_m)), np.zeros(len(means_n))])
    threshold = _best_threshold(scores, truth)
    target_mean = float(feats_t[:, 0].mean())
    return {
        "svc_auc": float(roc_auc_score(y, decision)),
        "target_nonmember_share": float(np.mean(called_member == 0)),
        "threshold_auc": float(roc_auc_score(truth, scores)),
        "target_mean_confidence": target_mean,
        "target_called_member": bool(target_mean >= threshold),
        "nonmember_mean_confidence": float(means_n.mean()),
    }


def _per_participant(values: np.ndarray, participants: np.ndarray) -> np.ndarray:
    return np.array([values[participants == p].mean() for p in np.unique(participants)])


def _best_threshold(scores: np.ndarray, truth: np.ndarray) -> float:
    """The cut on mean confidence that best separates members (above) from non-members."""
    candidates = np.unique(scores)
    accuracy = [np.mean((scores >= c) == truth) for c in candidates]
    return float(candidates[int(np.argmax(accuracy))])


def forgetting_report(
    model,
    gold,
    *,
    forget: tuple[np.ndarray, np.ndarray],
    remain: tuple[np.ndarray, np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> dict:
    """Measure an unlearned model against the gold model retrained without P.

    Parameters
    ----------
    model, gold : fitted estimators
        The unlearned model and the retrained one.
    forget : (X, y)
        The forgotten participant's windows.
    remain : (X, y, participants)
        The remaining training windows (members).
    test : (X, y, participants)
        Windows of participants no model was trained on (non-members).

    Returns
    -------
    report : dict
        For ``model`` and ``gold``: ``forget_accuracy``, ``remain_accuracy``,
        ``test_accuracy`` and the attack results; ``agreement`` (share of
        forget and test windows where both predict the same) and ``gap`` (mean
        absolute difference to the gold model over the three accuracies and
        the SVC attack AUC).
    """
    out = {}
    for name, est in (("model", model), ("gold", gold)):
        attack = membership(est, remain, test, forget)
        out[name] = {
            "forget_accuracy": float(np.mean(est.predict(forget[0]) == forget[1])),
            "remain_accuracy": float(np.mean(est.predict(remain[0]) == remain[1])),
            "test_accuracy": float(np.mean(est.predict(test[0]) == test[1])),
            **attack,
        }
    both = np.vstack([forget[0], test[0]])
    out["agreement"] = float(np.mean(model.predict(both) == gold.predict(both)))
    keys = ("forget_accuracy", "remain_accuracy", "test_accuracy", "svc_auc")
    out["gap"] = float(np.mean([abs(out["model"][k] - out["gold"][k]) for k in keys]))
    return out
