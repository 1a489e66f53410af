"""What a fitted model of each type may hold: the checks :mod:`eeg4students.modelcheck` runs.

One function per estimator type the model-file allow-list admits
(:data:`CHECKS`, by exact type name). Each reads the fitted attributes that
the type's ``predict`` relies on, most of all those compiled code indexes
without bounds checks, and raises :class:`Refused` naming the attribute and
what is wrong with it. A nearest-neighbour model's kd-tree is rebuilt from
its validated training points rather than checked.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable

import numpy as np
from pyriemann.classification import MDM
from pyriemann.tangentspace import TangentSpace
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import (
    AdaBoostClassifier,
    GradientBoostingClassifier,
    RandomForestClassifier,
)
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC, LinearSVC
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from eeg4students._compat import type_name
from eeg4students.models import ShardedForest, SISAEnsemble, TimeMajorityVoting, UnlearnableTMV
from eeg4students.models.certified import (
    CertifiedLogisticRegression,
    CertifiedTMV,
    RandomFourierFeatures,
    TangentSpaceAtIdentity,
)
from eeg4students.models.riemann import CovarianceColumns, PickColumns

#: Longest text a label of a model may hold.
MAX_TEXT = 256
#: Most classes, features and channels a toolkit model has.
MAX_CLASSES, MAX_FEATURES, MAX_CHANNELS = 1_000, 100_000, 256
#: Metrics a nearest-neighbour model may use (kd-tree and brute force both take them).
KNN_METRICS = ("euclidean", "minkowski", "manhattan", "chebyshev", "l1", "l2", "cityblock")
#: Kernels of an SVM (not ``precomputed``: it indexes the input by stored positions).
SVM_KERNELS = ("rbf", "linear", "poly", "sigmoid")
#: Metrics of pyRiemann's tangent space and MDM (names only; never a function).
RIEMANN_METRICS = (
    "riemann",
    "logeuclid",
    "euclid",
    "logdet",
    "wasserstein",
    "ale",
    "harmonic",
    "kullback_sym",
    "identity",
)


class Refused(Exception):
    """What is wrong with one object (turned into a ModelError naming the file)."""


def fail(where: str, problem: str) -> None:
    """Refuse the object at attribute path ``where`` for ``problem`` (raises :class:`Refused`)."""
    raise Refused(f"{where}: {problem}")


def _array(where: str, value, *, ndim: int | None = None, kind: str = "fiu", finite=True):
    if not isinstance(value, np.ndarray):
        fail(where, f"is a {type(value).__name__}, not an array")
    if ndim is not None and value.ndim != ndim:
        fail(where, f"has {value.ndim} dimensions, not {ndim}")
    if value.dtype.kind not in kind:
        fail(where, f"holds {value.dtype} values")
    if finite and value.dtype.kind == "f" and not np.isfinite(value).all():
        fail(where, "holds NaN or infinite values")
    return value


def count(where: str, value, low: int = 0, high: int = MAX_FEATURES) -> int:
    """``value`` as an int if it is a whole number in ``low..high``, else refuse it."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        fail(where, f"is {type(value).__name__}, not a whole number")
    if not low <= int(value) <= high:
        fail(where, f"is {int(value)}, outside {low}..{high}")
    return int(value)


def _labels(where: str, classes) -> np.ndarray:
    classes = _array(where, classes, ndim=1, kind="iufUSbO")
    if not 1 <= len(classes) <= MAX_CLASSES:
        fail(where, f"holds {len(classes)} classes")
    if classes.dtype == object and not all(
        isinstance(c, str) and len(c) <= MAX_TEXT for c in classes
    ):
        fail(where, "holds labels that are not short texts")
    if classes.dtype.kind in "US" and classes.dtype.itemsize > 4 * MAX_TEXT:
        fail(where, "holds labels too long to be task names")
    return classes


def _n_features(where: str, estimator) -> int:
    return count(f"{where}.n_features_in_", getattr(estimator, "n_features_in_", None), 1)


def _tree_arrays(where: str, tree, n_features: int, n_classes: int | None) -> None:
    """A fitted ``sklearn.tree._tree.Tree``: every index in range, no cycle."""
    node_count = count(f"{where}.node_count", tree.node_count, 1, 10**9)
    if node_count > tree.capacity:
        fail(where, f"claims {node_count} nodes but holds {tree.capacity}")
    if tree.n_outputs != 1:
        fail(where, f"has {tree.n_outputs} outputs; toolkit models have one")
    if tree.n_features != n_features:
        fail(where, f"splits {tree.n_features} features but its model takes {n_features}")
    if n_classes is not None and (
        tree.max_n_classes != n_classes or list(tree.n_classes) != [n_classes]
    ):
        fail(where, f"predicts {tree.max_n_classes} classes, its model {n_classes}")
    count(f"{where}.max_depth", tree.max_depth, 0, node_count)
    state = tree.__getstate__()
    nodes, values = state["nodes"], state["values"]
    if len(nodes) != node_count or len(values) != node_count:
        fail(where, "has node and value arrays of other lengths than its node count")
    left, right = nodes["left_child"], nodes["right_child"]
    feature, threshold = nodes["feature"], nodes["threshold"]
    index = np.arange(node_count)
    leaf = left == -1
    if not np.array_equal(leaf, right == -1):
        fail(where, "has a node with one child")
    inner = ~leaf
    for name, child in (("left", left), ("right", right)):
        bad = inner & ~((child > index) & (child < node_count))
        if bad.any():
            node = int(np.flatnonzero(bad)[0])
            fail(where, f"node {node} points to {name} child {int(child[node])}, out of range")
    if inner.any() and (feature[inner] < 0).any() | (feature[inner] >= n_features).any():
        worst = int(feature[inner][(feature[inner] < 0) | (feature[inner] >= n_features)][0])
        fail(where, f"splits on feature {worst}; its model has {n_features}")
    if not np.isfinite(threshold[inner]).all():
        fail(where, "has a split threshold that is NaN or infinite")
    if not np.isfinite(values).all():
        fail(where, "holds NaN or infinite leaf values")


def _decision_tree(where: str, model, classifier: bool) -> None:
    n_features = _n_features(where, model)
    if getattr(model, "n_outputs_", None) != 1:
        fail(where, "is not a single-output tree")
    n_classes = None
    if classifier:
        classes = _labels(f"{where}.classes_", model.classes_)
        n_classes = len(classes)
        if int(model.n_classes_) != n_classes:
            fail(where, f"says it has {model.n_classes_} classes but lists {n_classes}")
    _tree_arrays(f"{where}.tree_", model.tree_, n_features, n_classes)


def _same_width(where: str, parts, n_features: int) -> None:
    for i, part in enumerate(parts):
        if part is not None and getattr(part, "n_features_in_", n_features) != n_features:
            fail(f"{where}[{i}]", f"takes {part.n_features_in_} features, its owner {n_features}")


def _forest(where: str, model) -> None:
    n_features = _n_features(where, model)
    classes = _labels(f"{where}.classes_", model.classes_)
    if int(model.n_classes_) != len(classes) or model.n_outputs_ != 1:
        fail(where, "lists other classes than it predicts")
    trees = model.estimators_
    if not isinstance(trees, list) or not 1 <= len(trees) <= 100_000:
        fail(f"{where}.estimators_", "is not a list of trees")
    for i, tree in enumerate(trees):
        if type(tree).__name__ != "DecisionTreeClassifier" or len(tree.classes_) != len(classes):
            fail(f"{where}.estimators_[{i}]", "is not a tree over the forest's classes")
    _same_width(f"{where}.estimators_", trees, n_features)


def _gradient_boosting(where: str, model) -> None:
    n_features = _n_features(where, model)
    classes = _labels(f"{where}.classes_", model.classes_)
    n_classes = len(classes)
    if n_classes < 2 or int(model.n_classes_) != n_classes:
        fail(where, "lists other classes than it predicts")
    per_stage = 1 if n_classes == 2 else n_classes
    stages = model.estimators_
    if (
        not isinstance(stages, np.ndarray)
        or stages.dtype != object
        or stages.shape != (int(model.n_estimators_), per_stage)
        or model.n_trees_per_iteration_ != per_stage
        or not 1 <= stages.shape[0] <= 100_000
    ):
        fail(f"{where}.estimators_", f"is not a table of stages by {per_stage} trees")
    for i, tree in enumerate(stages.ravel()):
        if type(tree).__name__ != "DecisionTreeRegressor":
            fail(f"{where}.estimators_[{i}]", "is not a regression tree")
    _same_width(f"{where}.estimators_", stages.ravel(), n_features)
    loss = type(model._loss).__name__
    wanted = "HalfBinomialLoss" if n_classes == 2 else "HalfMultinomialLoss"
    if loss != wanted or model._loss.n_classes != n_classes:
        fail(f"{where}._loss", f"is a {loss} of {model._loss.n_classes} classes")
    init = model.init_
    if isinstance(init, str):
        if init != "zero":
            fail(f"{where}.init_", f"is {init!r}")
    elif type(init).__name__ != "DummyClassifier" or len(init.classes_) != n_classes:
        fail(f"{where}.init_", "does not predict the model's classes")
    elif getattr(init, "n_features_in_", n_features) != n_features:
        fail(f"{where}.init_", "takes another number of features")
    if not np.isfinite(float(model.learning_rate)):
        fail(f"{where}.learning_rate", "is not finite")


def _ada_boost(where: str, model) -> None:
    n_features = _n_features(where, model)
    classes = _labels(f"{where}.classes_", model.classes_)
    if int(model.n_classes_) != len(classes):
        fail(where, "lists other classes than it predicts")
    trees = model.estimators_
    if not isinstance(trees, list) or not 1 <= len(trees) <= 100_000:
        fail(f"{where}.estimators_", "is not a list of trees")
    weights = _array(f"{where}.estimator_weights_", model.estimator_weights_, ndim=1)
    if len(weights) < len(trees):
        fail(f"{where}.estimator_weights_", "has fewer weights than trees")
    for i, tree in enumerate(trees):
        if type(tree).__name__ != "DecisionTreeClassifier" or not np.array_equal(
            tree.classes_, classes
        ):
            fail(f"{where}.estimators_[{i}]", "is not a tree over the model's classes")
    _same_width(f"{where}.estimators_", trees, n_features)


def _svc(where: str, model) -> None:
    n_features = _n_features(where, model)
    classes = _labels(f"{where}.classes_", model.classes_)
    n = len(classes)
    if n < 2:
        fail(where, "has fewer than two classes")
    if model.kernel not in SVM_KERNELS or model._impl != "c_svc" or model._sparse:
        fail(where, f"uses the kernel {model.kernel!r} or a form the toolkit never saves")
    sv = _array(f"{where}.support_vectors_", model.support_vectors_, ndim=2, kind="f")
    n_sv = sv.shape[0]
    if sv.shape[1] != n_features or not sv.flags.c_contiguous or sv.dtype != np.float64:
        fail(f"{where}.support_vectors_", f"is not {n_sv} x {n_features} float64 values")
    n_support = _array(f"{where}._n_support", model._n_support, ndim=1, kind="i")
    if n_support.shape != (n,) or (n_support < 0).any() or n_support.sum() != n_sv:
        fail(f"{where}._n_support", f"does not split {n_sv} support vectors into {n} classes")
    support = _array(f"{where}.support_", model.support_, ndim=1, kind="i")
    fitted_rows = count(f"{where}.shape_fit_", model.shape_fit_[0], 0, 10**9)
    if support.shape != (n_sv,) or (support < 0).any() or (support >= max(fitted_rows, 1)).any():
        fail(f"{where}.support_", "does not index the training windows")
    if tuple(model.shape_fit_) != (fitted_rows, n_features):
        fail(f"{where}.shape_fit_", "does not match the support vectors")
    pairs = n * (n - 1) // 2
    dual = _array(f"{where}._dual_coef_", model._dual_coef_, ndim=2, kind="f")
    if dual.shape != (n - 1, n_sv):
        fail(f"{where}._dual_coef_", f"is not {n - 1} x {n_sv}")
    intercept = _array(f"{where}._intercept_", model._intercept_, ndim=1, kind="f")
    if intercept.shape != (pairs,):
        fail(f"{where}._intercept_", f"does not hold {pairs} intercepts")
    for name in ("_probA", "_probB"):
        prob = _array(f"{where}.{name}", getattr(model, name), ndim=1, kind="f")
        if len(prob) not in (0, pairs):
            fail(f"{where}.{name}", f"does not hold 0 or {pairs} values")
    for name in ("_gamma", "coef0"):
        value = float(getattr(model, name))
        if not np.isfinite(value):
            fail(f"{where}.{name}", "is not finite")
    count(f"{where}.degree", model.degree, 0, 100)
    if model.fit_status_ != 0:
        fail(where, "was not fitted successfully")


def _knn(where: str, model) -> None:
    from sklearn.neighbors import KDTree

    n_features = _n_features(where, model)
    classes = _labels(f"{where}.classes_", model.classes_)
    points = _array(f"{where}._fit_X", model._fit_X, ndim=2, kind="f")
    n_points = count(f"{where}.n_samples_fit_", model.n_samples_fit_, 1, 10**8)
    if points.shape != (n_points, n_features):
        fail(f"{where}._fit_X", f"is not {n_points} x {n_features}")
    targets = _array(f"{where}._y", model._y, ndim=1, kind="iu")
    if targets.shape != (n_points,) or (targets < 0).any() or (targets >= len(classes)).any():
        fail(f"{where}._y", "does not index the model's classes")
    if model.outputs_2d_:
        fail(where, "has several outputs")
    count(f"{where}.n_neighbors", model.n_neighbors, 1, n_points)
    metric, params = model.effective_metric_, model.effective_metric_params_
    if metric not in KNN_METRICS or not isinstance(params, dict):
        fail(f"{where}.effective_metric_", f"is {metric!r}")
    for key, value in params.items():
        if key != "p" or not isinstance(value, numbers.Real) or not 1 <= float(value) <= 100:
            fail(f"{where}.effective_metric_params_", f"holds {key}={value!r}")
    if model._fit_method == "kd_tree":
        # Never trusted: rebuilt from the validated points (the same tree, the same answers).
        leaf_size = count(f"{where}.leaf_size", model.leaf_size, 1, 10**6)
        model._tree = KDTree(points, leaf_size=leaf_size, metric=metric, **params)
    elif model._fit_method == "brute":
        model._tree = None
    else:
        fail(f"{where}._fit_method", f"is {model._fit_method!r}")


def _scaler(where: str, model) -> None:
    n = _n_features(where, model)
    for name in ("mean_", "scale_", "var_"):
        value = getattr(model, name, None)
        if value is not None and _array(f"{where}.{name}", value, ndim=1).shape != (n,):
            fail(f"{where}.{name}", f"does not hold {n} values")


def _linear(where: str, model) -> None:
    n = _n_features(where, model)
    classes = _labels(f"{where}.classes_", model.classes_)
    coef = _array(f"{where}.coef_", model.coef_, ndim=2, kind="f")
    rows = 1 if len(classes) == 2 else len(classes)
    if coef.shape != (rows, n):
        fail(f"{where}.coef_", f"is not {rows} x {n}")
    intercept = np.atleast_1d(_array(f"{where}.intercept_", model.intercept_, kind="f"))
    if intercept.shape not in ((rows,), (1,)):
        fail(f"{where}.intercept_", f"does not hold {rows} values")


def _lda(where: str, model) -> None:
    _linear(where, model)
    n = model.n_features_in_
    means = _array(f"{where}.means_", model.means_, ndim=2, kind="f")
    if means.shape != (len(model.classes_), n):
        fail(f"{where}.means_", "does not hold a mean per class")
    xbar = getattr(model, "xbar_", None)
    if xbar is not None and _array(f"{where}.xbar_", xbar, ndim=1).shape != (n,):
        fail(f"{where}.xbar_", f"does not hold {n} values")
    scalings = getattr(model, "scalings_", None)
    if scalings is not None and _array(f"{where}.scalings_", scalings, ndim=2).shape[0] != n:
        fail(f"{where}.scalings_", f"does not have {n} rows")


def _dummy(where: str, model) -> None:
    classes = _labels(f"{where}.classes_", model.classes_)
    prior = _array(f"{where}.class_prior_", model.class_prior_, ndim=1, kind="f")
    if prior.shape != classes.shape or model.n_outputs_ != 1 or model.n_classes_ != len(classes):
        fail(where, "does not give one prior per class")


def _spd(where: str, value, n: int | None = None) -> np.ndarray:
    matrix = _array(where, value, kind="f")
    size = matrix.shape[-1]
    if matrix.ndim < 2 or matrix.shape[-2] != size or not 1 <= size <= MAX_CHANNELS:
        fail(where, "is not a square matrix of a channel count")
    if n is not None and size != n:
        fail(where, f"is {size} x {size}, not {n} x {n}")
    return matrix


def _riemann_metric(where: str, metric) -> None:
    names = metric.values() if isinstance(metric, dict) else [metric]
    if not all(isinstance(m, str) and m in RIEMANN_METRICS for m in names):
        fail(f"{where}.metric", f"is {metric!r}, not a metric name")


def _tangent_space(where: str, model) -> None:
    _riemann_metric(where, model.metric)
    _spd(f"{where}.reference_", model.reference_)
    if model.tsupdate:
        fail(where, "updates its reference at predict time, which the toolkit never does")


def _mdm(where: str, model) -> None:
    _riemann_metric(where, model.metric)
    classes = _labels(f"{where}.classes_", model.classes_)
    means = _spd(f"{where}.covmeans_", model.covmeans_)
    if means.ndim != 3 or len(means) != len(classes):
        fail(f"{where}.covmeans_", "does not hold one matrix per class")


def _positions(where: str, columns, n_features: int) -> None:
    if columns is None:
        return
    if not isinstance(columns, list | tuple | np.ndarray) or not len(columns):
        fail(where, "is not a list of column positions")
    for value in columns:
        count(where, value, 0, n_features - 1)


def _pick_columns(where: str, model) -> None:
    _positions(f"{where}.columns", model.columns, _n_features(where, model))


def _covariance_columns(where: str, model) -> None:
    n_features = _n_features(where, model)
    _positions(f"{where}.columns", model.columns, n_features)
    channels = count(f"{where}.n_channels_", model.n_channels_, 1, MAX_CHANNELS)
    width = len(model.columns) if model.columns is not None else n_features
    if width != channels * (channels + 1) // 2:
        fail(where, f"takes {width} columns, not the triangle of {channels} channels")


def _pipeline(where: str, model) -> None:
    steps = model.steps
    if not isinstance(steps, list) or not 1 <= len(steps) <= 20:
        fail(f"{where}.steps", "is not a list of steps")
    for i, step in enumerate(steps):
        if not (isinstance(step, tuple) and len(step) == 2 and isinstance(step[0], str)):
            fail(f"{where}.steps[{i}]", "is not a (name, estimator) pair")
    if model.memory is not None:
        fail(f"{where}.memory", "names a cache folder; saved models never do")


def _voting(where: str, model) -> None:
    classes = _labels(f"{where}.classes_", model.classes_)
    _n_features(where, model)
    if model.mode not in ("block", "causal"):
        fail(f"{where}.mode", f"is {model.mode!r}")
    count(f"{where}.k", model.k, 1, 10_000)
    bases = model.estimators_
    if not isinstance(bases, list) or len(bases) != 2:
        fail(f"{where}.estimators_", "does not hold the top two bases")
    for i, base in enumerate(bases):
        if not np.array_equal(getattr(base, "classes_", None), classes):
            fail(f"{where}.estimators_[{i}]", "does not predict the model's classes")
    _same_width(f"{where}.estimators_", bases, model.n_features_in_)


def _sharded_forest(where: str, model) -> None:
    n_features = _n_features(where, model)
    classes = _labels(f"{where}.classes_", model.classes_)
    n_trees = count(f"{where}.n_estimators", model.n_estimators, 1, 100_000)
    trees = model.estimators_
    if not isinstance(trees, list) or len(trees) != n_trees:
        fail(f"{where}.estimators_", f"does not hold {n_trees} trees")
    for i, tree in enumerate(trees):
        if tree is None:
            continue
        if type(tree).__name__ != "DecisionTreeClassifier":
            fail(f"{where}.estimators_[{i}]", "is not a tree")
        if getattr(model, "encoded_", False):
            codes = tree.classes_
            if codes.dtype.kind not in "iuf" or (codes < 0).any() or (codes >= len(classes)).any():
                fail(f"{where}.estimators_[{i}].classes_", "does not index the forest's classes")
        elif not np.isin(tree.classes_, classes).all():
            fail(f"{where}.estimators_[{i}].classes_", "holds classes the forest lacks")
    _same_width(f"{where}.estimators_", trees, n_features)
    for person, chosen in model.assignment_.items():
        chosen = np.asarray(chosen)
        if chosen.dtype.kind not in "iu" or (chosen < 0).any() or (chosen >= n_trees).any():
            fail(f"{where}.assignment_[{person!r}]", "does not index the forest's trees")


def _sisa(where: str, model) -> None:
    n_features = _n_features(where, model)
    classes = _labels(f"{where}.classes_", model.classes_)
    shards = count(f"{where}.n_shards", model.n_shards, 1, 10_000)
    parts = model.estimators_
    if not isinstance(parts, list) or len(parts) != shards:
        fail(f"{where}.estimators_", f"does not hold {shards} shards")
    if all(part is None for part in parts):
        fail(f"{where}.estimators_", "holds no fitted shard")
    for i, part in enumerate(parts):
        if part is not None and not np.isin(part.classes_, classes).all():
            fail(f"{where}.estimators_[{i}]", "predicts classes the model lacks")
    _same_width(f"{where}.estimators_", parts, n_features)
    for person, shard in model.shard_of_.items():
        count(f"{where}.shard_of_[{person!r}]", shard, 0, shards - 1)


def _unlearnable_tmv(where: str, model) -> None:
    _voting(where, model)
    names = [name for name, _ in model.bases_]
    if sorted(model.ranking_) != sorted(names) or len(names) < 2:
        fail(f"{where}.ranking_", "does not rank the model's bases")


def _certified(where: str, model) -> None:
    n_features = _n_features(where, model)
    classes = _labels(f"{where}.classes_", model.classes_)
    rows = 1 if len(classes) == 2 else len(classes)
    mapped = model.feature_map_
    if mapped is not None:
        if not hasattr(mapped, "transform") or not hasattr(mapped, "n_features_in_"):
            fail(f"{where}.feature_map_", "is not a fitted feature map")
        if count(f"{where}.feature_map_.n_features_in_", mapped.n_features_in_, 1) != n_features:
            fail(f"{where}.feature_map_", f"does not take the model's {n_features} features")
    coef = _array(f"{where}.coef_", model.coef_, ndim=2, kind="f")
    if coef.shape[0] != rows or not 2 <= coef.shape[1] <= MAX_FEATURES:
        fail(f"{where}.coef_", f"does not hold {rows} weight rows")
    gram = getattr(model, "gram_", None)  # absent from files saved before it existed
    if gram is not None:
        gram = _array(f"{where}.gram_", gram, ndim=2, kind="f")
        if gram.shape != (coef.shape[1], coef.shape[1]):
            fail(f"{where}.gram_", f"is not {coef.shape[1]} x {coef.shape[1]}")
    width = coef.shape[1]
    hessian = getattr(model, "hessian_", None)  # absent from older files, None after a removal
    at = getattr(model, "hessian_at_", None)
    if (hessian is None) != (at is None):
        fail(f"{where}.hessian_", "comes without the weights it was computed at")
    if hessian is not None:
        hessian = _array(f"{where}.hessian_", hessian, ndim=3, kind="f")
        if hessian.shape != (rows, width, width):
            fail(f"{where}.hessian_", f"does not hold {rows} Hessians of {width} x {width}")
        at = _array(f"{where}.hessian_at_", at, ndim=2, kind="f")
        if at.shape != coef.shape:
            fail(f"{where}.hessian_at_", f"does not hold {rows} weight rows")
    noise = getattr(model, "noise_", None)
    if noise is not None and (
        not isinstance(noise, numbers.Real) or not np.isfinite(noise) or noise <= 0
    ):
        fail(f"{where}.noise_", "is not a positive number")
    spent = _array(f"{where}.spent_", model.spent_, ndim=1, kind="f")
    if spent.shape != (rows,) or (spent < 0).any():
        fail(f"{where}.spent_", f"does not hold {rows} spent budgets")
    for name in ("budget_", "radius_"):
        value = getattr(model, name, None)
        if not isinstance(value, numbers.Real) or not np.isfinite(value) or value <= 0:
            fail(f"{where}.{name}", "is not a positive number")
    count(f"{where}.n_train_", model.n_train_, 1, 10**9)
    count(f"{where}.retrains_", model.retrains_, 0, 10**6)
    people = model.participants_
    if not isinstance(people, list) or not all(
        isinstance(p, str) and len(p) <= MAX_TEXT for p in people
    ):
        fail(f"{where}.participants_", "is not a list of labels")
    if not isinstance(model.removals_, list):
        fail(f"{where}.removals_", "is not a list")


def _fourier(where: str, model) -> None:
    n_features = _n_features(where, model)
    count(f"{where}.n_components", model.n_components, 1, MAX_FEATURES)
    sampler = model.sampler_
    weights = _array(f"{where}.sampler_.random_weights_", sampler.random_weights_, ndim=2)
    offsets = _array(f"{where}.sampler_.random_offset_", sampler.random_offset_, ndim=1)
    if weights.shape != (n_features, model.n_components) or offsets.shape != (model.n_components,):
        fail(f"{where}.sampler_", f"does not map {n_features} features to {model.n_components}")


#: The checks by exact type name; objects of other allowed types hold no state that
#: compiled code trusts (containers, scalars, random states, losses' links).
CHECKS: dict[str, Callable[[str, object], None]] = {
    type_name(cls): check
    for cls, check in (
        (DecisionTreeClassifier, lambda w, m: _decision_tree(w, m, True)),
        (DecisionTreeRegressor, lambda w, m: _decision_tree(w, m, False)),
        (RandomForestClassifier, _forest),
        (GradientBoostingClassifier, _gradient_boosting),
        (AdaBoostClassifier, _ada_boost),
        (SVC, _svc),
        (LinearSVC, _linear),
        (LogisticRegression, _linear),
        (LinearDiscriminantAnalysis, _lda),
        (KNeighborsClassifier, _knn),
        (StandardScaler, _scaler),
        (DummyClassifier, _dummy),
        (Pipeline, _pipeline),
        (TangentSpace, _tangent_space),
        (MDM, _mdm),
        (PickColumns, _pick_columns),
        (CovarianceColumns, _covariance_columns),
        (TimeMajorityVoting, _voting),
        (ShardedForest, _sharded_forest),
        (SISAEnsemble, _sisa),
        (UnlearnableTMV, _unlearnable_tmv),
        (CertifiedLogisticRegression, _certified),
        (CertifiedTMV, _voting),
        (RandomFourierFeatures, _fourier),
        (TangentSpaceAtIdentity, _covariance_columns),  # the same columns, the same check
    )
}
