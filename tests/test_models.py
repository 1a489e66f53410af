"""Classifiers, Time Majority Voting rules and the estimator contract."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.ensemble import RandomForestClassifier
from sklearn.svm import SVC
from sklearn.utils.estimator_checks import parametrize_with_checks

from eeg4students.errors import EEG4StudentsError
from eeg4students.models import (
    MODEL_NAMES,
    ShardedForest,
    SISAEnsemble,
    TimeMajorityVoting,
    UnlearnableTMV,
    make_model,
    vote,
)
from eeg4students.models.certified import (
    CertifiedLogisticRegression,
    CertifiedTMV,
    RandomFourierFeatures,
)
from eeg4students.models.riemann import PickColumns
from eeg4students.models.tmv import CausalVoter, predict_labels


def test_block_vote_agreement_disagreement_and_ties():
    top = np.array(list("AAABAB" + "CCDD"))
    second = np.array(list("AAACBB" + "CDDC"))
    blocks = np.array([1] * 6 + [2] * 4)
    out = vote(top, second, mode="block", blocks=blocks)
    # Block 1: top says A four times, B twice; disagreements at 3 and 4 take A.
    assert "".join(out[:6]) == "AAAAAB"
    # Block 2: top's labels tie (C, C, D, D): disagreements keep top's own label.
    assert "".join(out[6:]) == "CCDD"
    # Agreement always stands.
    assert out[5] == "B"


def test_block_vote_without_blocks_keeps_the_top_label():
    top, second = np.array(list("ABAB")), np.array(list("BBAA"))
    assert "".join(vote(top, second, mode="block")) == "ABAB"


def test_causal_vote_uses_only_the_past_k_windows_of_the_block():
    top = np.array(list("AABBBA" + "B"))
    second = np.array(list("AACCCC" + "C"))
    blocks = np.array([1] * 6 + [2])
    out = vote(top, second, mode="causal", blocks=blocks, k=3)
    # i=2: past A,A,B -> A; i=3: A,B,B -> B; i=4: B,B,B -> B; i=5: B,B,A -> B
    # i=6 (new block): only its own window, B.
    assert "".join(out) == "AAABBBB"
    # A tie in the causal window keeps top's label: k=2 at i=2 sees A,B.
    assert vote(top, second, mode="causal", blocks=blocks, k=2)[2] == "B"


def test_vote_future_does_not_change_causal_past():
    rng = np.random.default_rng(0)
    top, second = rng.choice(list("ABC"), 50), rng.choice(list("ABC"), 50)
    full = vote(top, second, mode="causal", k=4)
    for n in (10, 25, 40):
        assert np.array_equal(vote(top[:n], second[:n], mode="causal", k=4), full[:n])


def _tmv_small():
    return TimeMajorityVoting(
        estimators=[
            ("rf", RandomForestClassifier(10, random_state=0)),
            ("lda", LinearDiscriminantAnalysis()),
            ("svm", SVC()),
        ]
    )


def _sharded_small():
    return [
        ShardedForest(n_estimators=10, q=0.5),
        SISAEnsemble(LinearDiscriminantAnalysis(), n_shards=2),
        UnlearnableTMV(
            [("rf", ShardedForest(n_estimators=10, q=0.5)), ("lda", SISAEnsemble(n_shards=2))]
        ),
    ]


def _certified_small():
    return [
        CertifiedLogisticRegression(random_state=0),
        CertifiedLogisticRegression(feature_map=RandomFourierFeatures(20), random_state=0),
        # The noise of a certified model is fresh unless seeded: seeded here, for the checks.
        CertifiedTMV(
            [
                (
                    "rff",
                    CertifiedLogisticRegression(
                        feature_map=RandomFourierFeatures(20), random_state=0
                    ),
                ),
                ("lr", CertifiedLogisticRegression(random_state=0)),
            ]
        ),
        RandomFourierFeatures(20),
    ]


@parametrize_with_checks(
    [_tmv_small(), *_sharded_small(), *_certified_small(), PickColumns(), PickColumns([1, 0])]
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


@pytest.mark.parametrize("model", _sharded_small(), ids=lambda m: type(m).__name__)
def test_sharded_models_take_participants_as_groups_and_refuse_strangers(model):
    rng = np.random.default_rng(6)
    X, y = rng.normal(size=(120, 4)), np.tile(np.repeat([0, 1, 2], 10), 4)
    people = np.repeat(["a", "b", "c", "d"], 30)
    model.fit(X, y, groups=people)
    assert model.participants_ == ["a", "b", "c", "d"]
    keep = people != "b"
    model.forget("b", X[keep], y[keep], people[keep])
    assert model.participants_ == ["a", "c", "d"]
    for who in ("b", "nobody"):
        with pytest.raises(ValueError, match=f"never saw participant '{who}'"):
            model.forget(who, X[keep], y[keep], people[keep])


def test_tmv_ranks_bases_and_keeps_top_two():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(300, 4))
    y = (X[:, 0] > 0).astype(int)
    X[:, 1:] = rng.normal(size=(300, 3))
    blocks = np.repeat(np.arange(30), 10)
    model = TimeMajorityVoting(
        estimators=[
            ("noise", make_model("dt", max_depth=1, random_state=0).set_params(max_features=1)),
            ("lda", LinearDiscriminantAnalysis()),
            ("rf", RandomForestClassifier(50, random_state=0)),
        ],
        cv=3,
    ).fit(X, y, groups=blocks)
    assert set(model.scores_) == {"noise", "lda", "rf"}
    assert model.ranking_[0] in ("lda", "rf") and model.ranking_[-1] == "noise"
    assert len(model.estimators_) == 2
    assert model.score(X, y) > 0.9


def test_prefitted_bases_are_used_as_given():
    rng = np.random.default_rng(2)
    X, y = rng.normal(size=(120, 3)), rng.integers(0, 3, 120)
    rf = RandomForestClassifier(5, random_state=0).fit(X, y)
    model = TimeMajorityVoting(
        estimators=[
            ("rf", RandomForestClassifier(5, random_state=0)),
            ("lda", LinearDiscriminantAnalysis()),
        ]
    ).fit(X, y, prefitted={"rf": rf})
    assert any(est is rf for est in model.estimators_)


def test_fast_forest_path_gives_the_same_labels():
    rng = np.random.default_rng(3)
    X, y = rng.normal(size=(400, 6)), rng.choice(list("abcde"), 400)
    forest = RandomForestClassifier(100, random_state=0).fit(X, y)
    test = rng.normal(size=(200, 6))
    fast = np.concatenate([predict_labels(forest, test[i : i + 8]) for i in range(0, 200, 8)])
    assert np.array_equal(fast, forest.predict(test))


def test_causal_voter_matches_causal_vote():
    rng = np.random.default_rng(4)
    X, y = rng.normal(size=(200, 5)), rng.integers(0, 3, 200)
    model = make_model("tmv", k=3).fit(X, y)
    voter = CausalVoter(model)
    live = [voter.update(x)[0] for x in X[:60]]
    top, second = model.predict_bases(X[:60])
    assert np.array_equal(live, vote(top, second, mode="causal", k=3))


def spd_columns(rng, y, n_channels=3):
    """Covariance columns (upper triangles) of windows whose first channel grows with y."""
    windows = rng.normal(size=(len(y), n_channels, 64))
    windows[:, 0] *= 1 + np.asarray(y, dtype=float)[:, None]
    cov = np.einsum("wcs,wds->wcd", windows, windows) / 64
    upper = np.triu_indices(n_channels)
    return cov[:, upper[0], upper[1]]


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_every_named_model_fits(name):
    rng = np.random.default_rng(5)
    X, y = rng.normal(size=(90, 4)), np.repeat([0, 1, 2], 30)
    X[:, 0] += y
    params = {"n_estimators": 20} if name in ("rf", "gb", "ada") else {}
    if name in ("tslr", "mdm"):
        X = spd_columns(rng, y)
    if name == "tmvts":  # band powers for its RF and SVM, matrices for its tangent space
        X = np.hstack([X, spd_columns(rng, y)])
        params["feature_columns"] = ["a", "b", "c", "d", *(f"cov_{i}" for i in range(6))]
    model = make_model(name, **params)
    assert model.fit(X, y).predict(X).shape == (90,)


def test_unknown_model_name():
    with pytest.raises(EEG4StudentsError, match="Unknown model 'xgb'"):
        make_model("xgb")


def test_sharded_forest_trees_learn_class_indices_and_older_forests_still_predict():
    import copy

    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 4))
    y = np.array(["Count", "Think", "Draw"])[rng.integers(0, 3, 120)]
    groups = np.repeat(["a", "b", "c", "d"], 30)
    forest = ShardedForest(n_estimators=12, q=0.5).fit(X, y, groups)
    assert forest.encoded_ and all(
        t is None or t.classes_.dtype.kind in "iuf" for t in forest.estimators_
    )
    # A forest saved before: its trees learned the labels themselves.
    old = copy.deepcopy(forest)
    del old.encoded_
    for tree in old.estimators_:
        if tree is not None:
            tree.classes_ = forest.classes_[tree.classes_.astype(int)]
    np.testing.assert_array_equal(old.predict_proba(X), forest.predict_proba(X))
    keep = groups != "b"
    forest.forget("b", X[keep], y[keep], groups[keep])
    fresh = ShardedForest(n_estimators=12, q=0.5).fit(X[keep], y[keep], groups[keep])
    kept = [t for t in range(12) if fresh.estimators_[t] is not None]
    np.testing.assert_array_equal(
        forest.predict_proba(X, trees=kept), fresh.predict_proba(X, trees=kept)
    )


def test_covariance_columns_rebuild_the_matrices_and_refuse_other_columns():
    from eeg4students.models import model_columns
    from eeg4students.models.riemann import CovarianceColumns

    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 20)
    X = spd_columns(rng, y, n_channels=4)
    matrices = CovarianceColumns().fit(X).transform(X)
    assert matrices.shape == (40, 4, 4)
    np.testing.assert_array_equal(matrices, np.transpose(matrices, (0, 2, 1)))
    assert (np.linalg.eigvalsh(matrices) > 0).all()
    with pytest.raises(ValueError, match="not the upper triangle"):
        CovarianceColumns().fit(X[:, :7])
    columns = ["Fz_alpha", "cov_Fz_Fz", "cov_Fz_Cz", "cov_Cz_Cz"]
    assert model_columns("tslr", columns) == columns[1:]
    assert model_columns("rf", columns) == ["Fz_alpha"]
    with pytest.raises(EEG4StudentsError, match="--covariance"):
        model_columns("mdm", ["Fz_alpha"])
    with pytest.raises(EEG4StudentsError, match="only covariance"):
        model_columns("rf", columns[1:])
