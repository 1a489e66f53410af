"""Classifiers as scikit-learn estimators, by short name.

========  ===========================================================
name      model
========  ===========================================================
``rf``    Random Forest, 300 trees, sqrt features (as in the study)
``svm``   RBF SVM with standardisation (``C``, ``gamma`` tunable)
``lda``   linear discriminant analysis
``slda``  shrinkage LDA (Ledoit-Wolf)
``knn``   k nearest neighbours (k=5) with standardisation
``linsvm`` linear SVM with standardisation
``gb``    gradient boosting
``ada``   AdaBoost
``dt``    decision tree
``tslr``  tangent space + logistic regression on covariance matrices (pyRiemann)
``mdm``   minimum distance to the Riemannian class means (pyRiemann)
``tmv``   Time Majority Voting over RF and RBF SVM
``tmvts`` Time Majority Voting over RF, RBF SVM (band powers) and
          tangent space + LR (covariance matrices)
========  ===========================================================
"""

from __future__ import annotations

from sklearn.base import BaseEstimator
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.ensemble import AdaBoostClassifier, GradientBoostingClassifier, RandomForestClassifier
from sklearn.model_selection import GridSearchCV, GroupKFold
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC, LinearSVC
from sklearn.tree import DecisionTreeClassifier

from eeg4students.errors import EEG4StudentsError
from eeg4students.models.riemann import PickColumns, riemann_model
from eeg4students.models.sharded import (
    ParticipantUnlearning,
    ShardedForest,
    SISAEnsemble,
    UnlearnableTMV,
)
from eeg4students.models.tmv import TimeMajorityVoting, vote
from eeg4students.names import COVARIANCE_MODELS, MODEL_NAMES, RIEMANN_MODELS

__all__ = [
    "MODEL_NAMES",
    "ParticipantUnlearning",
    "SISAEnsemble",
    "ShardedForest",
    "TimeMajorityVoting",
    "UnlearnableTMV",
    "fit_model",
    "make_model",
    "model_columns",
    "vote",
]


def fit_model(estimator, X, y, blocks=None, participants=None):
    """Fit any toolkit model, passing the side information it takes.

    Parameters
    ----------
    estimator : estimator
        Unfitted model.
    X : ndarray, shape (n_windows, n_features)
    y : ndarray, shape (n_windows,)
    blocks : ndarray, shape (n_windows,) | None
        Block id of every window (TMV ranks its bases with block-aware folds).
    participants : ndarray, shape (n_windows,) | None
        Participant of every window (the sharded models of
        :mod:`eeg4students.models.sharded` assign them to parts).

    Returns
    -------
    estimator : the fitted model
    """
    # The sharded models' groups are participants; TMV's are task blocks.
    if isinstance(estimator, ParticipantUnlearning):
        return estimator.fit(X, y, groups=participants)
    if isinstance(estimator, TimeMajorityVoting) and blocks is not None:
        return estimator.fit(X, y, groups=blocks)
    return estimator.fit(X, y)


def model_columns(name: str, feature_columns: list[str]) -> list[str]:
    """The feature columns a model takes: covariance for ``tslr``/``mdm``, both for ``tmvts``.

    Parameters
    ----------
    name : str
        Model name.
    feature_columns : list of str
        The feature table's columns.

    Returns
    -------
    columns : list of str

    Raises
    ------
    EEG4StudentsError
        If a Riemannian model is asked for features without covariance, or
        another model for features that are only covariance.
    """
    covariance = [c for c in feature_columns if c.startswith("cov_")]
    key = name.strip().lower()
    if key in COVARIANCE_MODELS and not covariance:
        raise EEG4StudentsError(
            f"Model {name!r} works on the windows' covariance matrices; compute the "
            "features with --covariance (FeatureParams(covariance=True))."
        )
    if key in RIEMANN_MODELS:
        return covariance
    rest = [c for c in feature_columns if not c.startswith("cov_")]
    if key == "tmvts" and rest:
        return rest + covariance
    if not rest:
        raise EEG4StudentsError(
            f"Model {name!r} works on band powers but the features hold only covariance "
            "columns; use tslr or mdm, or compute band powers too."
        )
    return rest


def make_model(
    name: str,
    *,
    random_state: int = 0,
    n_jobs: int | None = None,
    feature_columns: list[str] | None = None,
    base_params: dict[str, dict] | None = None,
    **params,
) -> BaseEstimator:
    """Build an unfitted classifier by short name.

    Parameters
    ----------
    name : str
        One of :data:`MODEL_NAMES`.
    random_state : int
        Seed of randomised models.
    n_jobs : int | None
        Parallel jobs for models that use them (RF, KNN, TMV's ranking).
    feature_columns : list of str | None
        The names of the columns the model will be given (those of
        :func:`model_columns`); ``tmvts`` routes band powers to its RF and
        SVM and covariance columns to its tangent-space base by them.
    base_params : dict | None
        ``tmvts`` only: settings of its bases by name, e.g.
        ``{"rf": {"n_estimators": 100}, "tslr": {"C": 0.1}}``.
    **params
        Overrides, e.g. ``n_estimators=100`` for ``rf`` or ``C=10`` for ``svm``.
        ``svm`` also takes ``tune=True``: choose C and gamma by an inner
        search whose folds keep task blocks whole (pass ``groups`` to fit).

    Returns
    -------
    estimator : sklearn estimator

    Raises
    ------
    EEG4StudentsError
        If the name is unknown.
    """
    key = name.strip().lower()
    if key in RIEMANN_MODELS:
        return riemann_model(key, random_state=random_state, **params)
    if key == "rf":
        options = {"n_estimators": 300, "max_features": "sqrt", **params}
        return RandomForestClassifier(random_state=random_state, n_jobs=n_jobs, **options)
    if key == "svm":
        tune = params.pop("tune", False)
        options = {"C": 1.0, "gamma": "scale", **params}
        pipeline = make_pipeline(StandardScaler(), SVC(kernel="rbf", **options))
        if not tune:
            return pipeline
        grid = {"svc__C": [0.1, 1, 10, 100], "svc__gamma": ["scale", 0.01, 0.1]}
        return GridSearchCV(pipeline, grid, cv=GroupKFold(n_splits=3), n_jobs=n_jobs)
    if key == "lda":
        return LinearDiscriminantAnalysis(**params)
    if key == "slda":
        return LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto", **params)
    if key == "knn":
        return make_pipeline(StandardScaler(), KNeighborsClassifier(n_jobs=n_jobs, **params))
    if key == "linsvm":
        return make_pipeline(StandardScaler(), LinearSVC(random_state=random_state, **params))
    if key == "gb":
        return GradientBoostingClassifier(random_state=random_state, **params)
    if key == "ada":
        return AdaBoostClassifier(random_state=random_state, **params)
    if key == "dt":
        return DecisionTreeClassifier(random_state=random_state, **params)
    if key == "tmv":
        bases = [
            ("rf", make_model("rf", random_state=random_state, n_jobs=n_jobs)),
            ("svm", make_model("svm")),
        ]
        return TimeMajorityVoting(estimators=bases, n_jobs=n_jobs, **params)
    if key == "tmvts":
        if not feature_columns:
            raise EEG4StudentsError(
                "Model 'tmvts' needs the names of its feature columns (band powers and "
                "covariance) to route them to its bases."
            )
        bands = [i for i, c in enumerate(feature_columns) if not c.startswith("cov_")]
        covariance = [i for i, c in enumerate(feature_columns) if c.startswith("cov_")]
        settings = base_params or {}
        rf = make_model("rf", random_state=random_state, n_jobs=n_jobs, **settings.get("rf", {}))
        svm = make_model("svm", **settings.get("svm", {}))
        tslr = riemann_model(
            "tslr", columns=covariance, random_state=random_state, **settings.get("tslr", {})
        )
        bases = [
            ("rf", make_pipeline(PickColumns(bands), rf)),
            ("svm", make_pipeline(PickColumns(bands), svm)),
            ("tslr", tslr),
        ]
        return TimeMajorityVoting(estimators=bases, n_jobs=n_jobs, **params)
    raise EEG4StudentsError(f"Unknown model {name!r}: use one of {', '.join(MODEL_NAMES)}.")
