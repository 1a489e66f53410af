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
``lr``    logistic regression with standardisation
``rff``   random Fourier features of an RBF kernel + logistic regression
          (the RBF SVM's twin with a certified-removal form)
========  ===========================================================

Unlearnable forms (``unlearnable=``): ``sharded`` (exact: a sharded forest,
SISA ensembles, TMV over both) and ``certified`` (``lr``, ``rff``, ``tslr``
and ``tmv`` over the first two: logistic models trained for certified
removal, :mod:`eeg4students.models.certified`).
"""

from __future__ import annotations

from sklearn.base import BaseEstimator
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.ensemble import AdaBoostClassifier, GradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC, LinearSVC
from sklearn.tree import DecisionTreeClassifier

from eeg4students._numbers import within
from eeg4students.errors import EEG4StudentsError, ModelError
from eeg4students.models._routing import BlockGroupKFold, fit_routed
from eeg4students.models.certified import (
    CertifiedLogisticRegression,
    CertifiedTMV,
    RandomFourierFeatures,
    TangentSpaceAtIdentity,
)
from eeg4students.models.riemann import PickColumns, riemann_model
from eeg4students.models.sharded import (
    ParticipantUnlearning,
    ShardedForest,
    SISAEnsemble,
    UnlearnableTMV,
)
from eeg4students.models.tmv import TimeMajorityVoting, vote
from eeg4students.names import (
    CERTIFIED_DEFAULTS,
    CERTIFIED_MODELS,
    CERTIFIED_RANGES,
    COVARIANCE_MODELS,
    MODEL_NAMES,
    RIEMANN_MODELS,
)

__all__ = [
    "MODEL_NAMES",
    "CertifiedLogisticRegression",
    "CertifiedTMV",
    "ParticipantUnlearning",
    "SISAEnsemble",
    "ShardedForest",
    "TimeMajorityVoting",
    "UnlearnableTMV",
    "fit_model",
    "make_model",
    "make_tmv",
    "model_columns",
    "vote",
]


def fit_model(estimator, X, y, blocks=None, participants=None):
    """Fit any toolkit model, giving it the side information it requests.

    Models say what they need at fit through scikit-learn's metadata routing
    (:mod:`eeg4students.models._routing`): TMV and a tuned SVM take task
    ``blocks``, the sharded models ``participants``; others take neither.

    Parameters
    ----------
    estimator : estimator
        Unfitted model.
    X : ndarray, shape (n_windows, n_features)
    y : ndarray, shape (n_windows,)
    blocks : ndarray, shape (n_windows,) | None
        Block id of every window.
    participants : ndarray, shape (n_windows,) | None
        Participant of every window.

    Returns
    -------
    estimator : the fitted model
    """
    return fit_routed(estimator, X, y, blocks=blocks, participants=participants)


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


#: Forms of a model whose participants can be removed: exactly (``sharded``) or with a
#: certificate (``certified``).
UNLEARNABLE = ("sharded", "certified")


def make_model(
    name: str,
    *,
    random_state: int = 0,
    n_jobs: int | None = None,
    feature_columns: list[str] | None = None,
    base_params: dict[str, dict] | None = None,
    unlearnable: dict | None = None,
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
        TMV only: settings of its bases by name, e.g.
        ``{"rf": {"n_estimators": 100}, "svm": {"C": 10}, "tslr": {"C": 0.1}}``.
    unlearnable : dict | None
        ``{"kind": "sharded", "q": Q, "shards": S}``: Random Forest as a
        :class:`ShardedForest` whose trees each see a fraction ``q`` of the
        participants, other models as a :class:`SISAEnsemble` of ``S``
        participant-disjoint shards, TMV over both (:class:`UnlearnableTMV`).
    **params
        Overrides, e.g. ``n_estimators=100`` for ``rf``, ``C=10`` for ``svm``,
        ``k=3`` for TMV. ``svm`` also takes ``tune=True``: choose C and gamma
        by an inner search whose folds keep task blocks whole (it requests
        ``blocks`` at fit: see :func:`fit_model`).

    Returns
    -------
    estimator : sklearn estimator

    Raises
    ------
    EEG4StudentsError
        If the name or the unlearnable form is unknown.
    """
    key = name.strip().lower()
    if unlearnable and unlearnable.get("kind") == "certified":
        return make_certified(key, unlearnable, random_state=random_state)
    if key == "tmv" or (key == "tmvts" and not unlearnable):
        return make_tmv(
            key,
            base_params=base_params,
            random_state=random_state,
            n_jobs=n_jobs,
            feature_columns=feature_columns,
            unlearnable=unlearnable,
            **params,
        )
    if unlearnable:
        q, shards = _sharding(unlearnable)
        if key == "rf":
            options = {**RF_DEFAULTS, **params}
            return ShardedForest(q=q, random_state=random_state, n_jobs=n_jobs, **options)
        # tmvts is sharded whole: a SISA ensemble of TMV models.
        plain = make_model(
            key,
            random_state=random_state,
            feature_columns=feature_columns,
            base_params=base_params,
            **params,
        )
        return SISAEnsemble(plain, shards)
    if key in RIEMANN_MODELS:
        return riemann_model(key, random_state=random_state, **params)
    if key == "rf":
        options = {**RF_DEFAULTS, **params}
        return RandomForestClassifier(random_state=random_state, n_jobs=n_jobs, **options)
    if key == "svm":
        tune = params.pop("tune", False)
        options = {"C": 1.0, "gamma": "scale", **params}
        pipeline = make_pipeline(StandardScaler(), SVC(kernel="rbf", **options))
        if not tune:
            return pipeline
        grid = {"svc__C": [0.1, 1, 10, 100], "svc__gamma": ["scale", 0.01, 0.1]}
        return GridSearchCV(pipeline, grid, cv=BlockGroupKFold(n_splits=3), n_jobs=n_jobs)
    if key == "lr":
        options = {"C": 1.0, "max_iter": 1000, **params}
        return make_pipeline(
            StandardScaler(), LogisticRegression(random_state=random_state, **options)
        )
    if key == "rff":
        features = {k: params.pop(k) for k in ("n_components", "gamma") if k in params}
        options = {"C": 1.0, "max_iter": 1000, **params}
        return make_pipeline(
            StandardScaler(),
            RandomFourierFeatures(random_state=random_state, **features),
            LogisticRegression(random_state=random_state, **options),
        )
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
    raise EEG4StudentsError(f"Unknown model {name!r}: use one of {', '.join(MODEL_NAMES)}.")


#: Settings of the study's Random Forest.
RF_DEFAULTS = {"n_estimators": 300, "max_features": "sqrt"}


def make_certified(name: str, unlearnable: dict, *, random_state: int = 0):
    """The certified-removal form of ``lr``, ``rff``, ``tslr`` or ``tmv``.

    Parameters
    ----------
    name : str
        One of :data:`~eeg4students.names.CERTIFIED_MODELS`.
    unlearnable : dict
        ``{"kind": "certified", "epsilon": E, "delta": D}`` and optionally
        ``sigma`` (noise) and ``lam`` (L2 strength); TMV gives each of its two
        bases half of epsilon and delta.
    random_state : int
        Seed of the random Fourier features (public); the objective's noise
        is never seeded.

    Returns
    -------
    estimator : CertifiedLogisticRegression | CertifiedTMV

    Raises
    ------
    ModelError
        For another model, or a setting out of its range.
    """
    settings = {}
    for key, (low, high) in CERTIFIED_RANGES.items():
        if key in unlearnable:
            value = unlearnable[key]
            if not within(value, low, high):
                raise ModelError(
                    f"The certified form's {key} must be a number from {low:g} to {high:g}, "
                    f"not {value!r}."
                )
            settings[key] = float(value)
    if name == "tmv":
        halves = {**settings}
        halves["epsilon"] = settings.get("epsilon", CERTIFIED_DEFAULTS["epsilon"][0]) / 2
        halves["delta"] = settings.get("delta", CERTIFIED_DEFAULTS["delta"][0]) / 2
        bases = [
            ("rff", make_certified("rff", {**unlearnable, **halves}, random_state=random_state)),
            ("lr", make_certified("lr", {**unlearnable, **halves}, random_state=random_state)),
        ]
        return CertifiedTMV(bases)
    maps = {
        "lr": None,
        "rff": RandomFourierFeatures(random_state=random_state),
        "tslr": TangentSpaceAtIdentity(),
    }
    if name not in maps:
        raise ModelError(
            f"Model {name!r} has no certified form: certified removal needs a smooth, convex "
            f"loss; use one of {', '.join(CERTIFIED_MODELS)} (rff is the RBF SVM's twin)."
        )
    return CertifiedLogisticRegression(feature_map=maps[name], **settings)


def _sharding(unlearnable: dict) -> tuple[float, int]:
    """(q, shards) of an unlearnable form, checked."""
    if unlearnable.get("kind") not in UNLEARNABLE:
        raise ModelError(f"Unknown unlearnable form {unlearnable.get('kind')!r}; use 'sharded'.")
    q, shards = float(unlearnable.get("q", 0.25)), int(unlearnable.get("shards", 4))
    if not 0 < q <= 1 or shards < 1:
        raise ModelError(
            f"Sharded models need 0 < q <= 1 and at least one shard, not {q}, {shards}."
        )
    return q, shards


def make_tmv(
    name: str = "tmv",
    *,
    base_params: dict[str, dict] | None = None,
    random_state: int = 0,
    n_jobs: int | None = None,
    feature_columns: list[str] | None = None,
    unlearnable: dict | None = None,
    **params,
) -> TimeMajorityVoting:
    """Time Majority Voting over the study's bases, the one place TMV models are assembled.

    Parameters
    ----------
    name : {"tmv", "tmvts"}
        ``tmv`` votes over RF and RBF SVM on band powers; ``tmvts`` adds
        tangent space + LR on covariance matrices (and needs
        ``feature_columns`` to route them).
    base_params : dict | None
        Settings of the bases by name (``rf``, ``svm``, ``tslr``), in every
        form (the sharded bases of the unlearnable TMV take them too).
    random_state, n_jobs
        As for :func:`make_model`.
    feature_columns : list of str | None
        ``tmvts``: the names of the columns it is given.
    unlearnable : dict | None
        The sharded form of ``tmv``: :class:`UnlearnableTMV` over a sharded
        forest and a SISA SVM (``make_model`` shards ``tmvts`` whole).
    **params
        Settings of the vote (``k``, ``mode``, ``cv``, ``rank_trees``).

    Returns
    -------
    model : TimeMajorityVoting
    """
    settings = base_params or {}

    def base(key: str, **extra):
        return make_model(
            key, random_state=random_state, n_jobs=n_jobs, **extra, **settings.get(key, {})
        )

    if name == "tmv":
        if unlearnable:
            bases = [("rf", base("rf", unlearnable=unlearnable))]
            bases.append(("svm", base("svm", unlearnable=unlearnable)))
            return UnlearnableTMV(bases, **params)
        bases = [("rf", base("rf")), ("svm", base("svm"))]
        return TimeMajorityVoting(bases, n_jobs=n_jobs, **params)
    if not feature_columns:
        raise EEG4StudentsError(
            "Model 'tmvts' needs the names of its feature columns (band powers and "
            "covariance) to route them to its bases."
        )
    bands = [i for i, c in enumerate(feature_columns) if not c.startswith("cov_")]
    covariance = [i for i, c in enumerate(feature_columns) if c.startswith("cov_")]
    tslr = riemann_model(
        "tslr", columns=covariance, random_state=random_state, **settings.get("tslr", {})
    )
    bases = [
        ("rf", make_pipeline(PickColumns(bands), base("rf"))),
        ("svm", make_pipeline(PickColumns(bands), base("svm"))),
        ("tslr", tslr),
    ]
    return TimeMajorityVoting(bases, n_jobs=n_jobs, **params)
