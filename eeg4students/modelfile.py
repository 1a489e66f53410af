"""Model files (skops) that cannot run code: an exact allow-list of what they may hold.

A skops file is a zip whose ``schema.json`` describes every object to
rebuild, each with its type (``module.Class``) and the skops node that
rebuilds it. skops itself refuses types it does not trust unless the caller
names them, but it trusts many scikit-learn types by default, and a caller
that passes on every type a file asks for (as this toolkit once did, by
prefix) lets a file chain functions such as ``numpy.full_like`` and
``builtins.exec`` through ``FunctionTransformer`` into code execution at
``predict``.

Here a file is read only if **every** node of its schema is one of the
exact types the toolkit's own models are made of (:data:`ALLOWED_TYPES`),
rebuilt by one of the node kinds those models use (:data:`ALLOWED_NODES`).
No function, method or operator node is ever accepted. The check reads
only ``schema.json``; nothing in the file is executed before it passes.
A test dumps every model the toolkit can train and checks that the list
covers it, so adding a model type means adding its types here, on purpose.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import skops.io as sio

from eeg4students.errors import ModelError, first_line

#: Largest ``schema.json`` read (bytes): a model's schema is a few MB at most.
MAX_SCHEMA_BYTES = 64 * 1024 * 1024

#: Every skops node kind the toolkit's models are rebuilt from.
ALLOWED_NODES = frozenset(
    {
        "DictNode",
        "JsonNode",
        "ListNode",
        "LossNode",
        "NdArrayNode",
        "ObjectNode",
        "RandomStateNode",
        "TreeNode",
        "TupleNode",
        "TypeNode",
    }
)

#: Every type the toolkit's models contain, exactly (``module.Class``).
ALLOWED_TYPES = frozenset(
    {
        # containers and values
        "builtins.dict",
        "builtins.list",
        "builtins.tuple",
        "builtins.str",
        "numpy.ndarray",
        "numpy.float64",
        "numpy.int64",
        "numpy.str_",
        "numpy.random.mtrand.RandomState",
        # the toolkit's estimators
        "eeg4students.models.tmv.TimeMajorityVoting",
        "eeg4students.models.sharded.ShardedForest",
        "eeg4students.models.sharded.SISAEnsemble",
        "eeg4students.models.sharded.UnlearnableTMV",
        "eeg4students.models.riemann.CovarianceColumns",
        "eeg4students.models.riemann.PickColumns",
        # pyRiemann's pipelines (tslr, mdm)
        "pyriemann.tangentspace.TangentSpace",
        "pyriemann.classification.MDM",
        "sklearn.linear_model._logistic.LogisticRegression",
        # scikit-learn estimators and what they hold
        "sklearn.pipeline.Pipeline",
        "sklearn.preprocessing._data.StandardScaler",
        "sklearn.svm._classes.SVC",
        "sklearn.svm._classes.LinearSVC",
        "sklearn.discriminant_analysis.LinearDiscriminantAnalysis",
        "sklearn.neighbors._classification.KNeighborsClassifier",
        "sklearn.neighbors._kd_tree.KDTree",
        "sklearn.metrics._dist_metrics.EuclideanDistance64",
        "sklearn.ensemble._forest.RandomForestClassifier",
        "sklearn.ensemble._gb.GradientBoostingClassifier",
        "sklearn.ensemble._weight_boosting.AdaBoostClassifier",
        "sklearn.tree._classes.DecisionTreeClassifier",
        "sklearn.tree._classes.DecisionTreeRegressor",
        "sklearn.tree._tree.Tree",
        "sklearn.dummy.DummyClassifier",
        "sklearn._loss.link.Interval",
        "sklearn._loss.link.LogitLink",
        "sklearn._loss.link.MultinomialLogit",
        "sklearn._loss.loss.HalfBinomialLoss",
        "sklearn._loss.loss.HalfMultinomialLoss",
        "sklearn._loss._loss.CyHalfBinomialLoss",
        "sklearn._loss._loss.CyHalfMultinomialLoss",
    }
)


def schema_types(path: Path) -> set[tuple[str, str]]:
    """Every (node kind, ``module.Class``) in a skops file's schema.

    Parameters
    ----------
    path : Path
        The ``.skops`` file.

    Returns
    -------
    types : set of (str, str)

    Raises
    ------
    ModelError
        If the file is not a skops zip or its schema is missing, too large or
        not JSON.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            info = archive.getinfo("schema.json")
            if info.file_size > MAX_SCHEMA_BYTES:
                raise ModelError(
                    f"{path}: its schema is {info.file_size:,} bytes, far more than any "
                    "eeg4students model's; it was not made by eeg4students."
                )
            schema = json.loads(archive.read(info))
    except ModelError:
        raise
    except (zipfile.BadZipFile, KeyError, OSError, EOFError, ValueError) as exc:
        raise ModelError(
            f"{path} is not a readable skops model file ({exc.__class__.__name__}); train the "
            "model again or ask for a new copy."
        ) from exc
    found: set[tuple[str, str]] = set()
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if "__loader__" in node or "__class__" in node:
                name = f"{node.get('__module__')}.{node.get('__class__')}"
                found.add((str(node.get("__loader__")), name))
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found


def check_model_file(path: Path) -> list[str]:
    """Refuse a model file holding anything outside the allow-list.

    Parameters
    ----------
    path : Path
        The ``.skops`` file.

    Returns
    -------
    types : list of str
        The types the file holds, all on the allow-list: what to pass to
        ``skops.io.load`` as ``trusted`` (it refuses anything else).

    Raises
    ------
    ModelError
        Naming the first few foreign types or node kinds.
    """
    found = schema_types(path)
    foreign = sorted(
        f"{name} ({node})"
        for node, name in found
        if node not in ALLOWED_NODES or name not in ALLOWED_TYPES
    )
    if foreign:
        more = f" and {len(foreign) - 4} more" if len(foreign) > 4 else ""
        shown = ", ".join(foreign[:4]) + more
        raise ModelError(
            f"{path} holds {shown}: types eeg4students does not trust (none of its models "
            "contains them), so it was refused unread; only load models trained by eeg4students."
        )
    # Every type in the file is on the allow-list: those are the ones to trust. (skops's
    # own get_untrusted_types would rebuild the whole node tree once more to list them.)
    return sorted({name for _, name in found})


def load_model_file(path: Path, trusted: list[str] | None = None):
    """Load an estimator from a skops file after :func:`check_model_file`.

    Parameters
    ----------
    path : Path
        The ``.skops`` file.
    trusted : list of str | None
        What :func:`check_model_file` returned for this file, if the caller
        already checked it; None checks it here.

    Returns
    -------
    estimator : a fitted scikit-learn estimator

    Raises
    ------
    ModelError
        If the file is refused or cannot be rebuilt.
    """
    if trusted is None:
        trusted = check_model_file(path)
    try:
        estimator = sio.load(path, trusted=trusted)
    except Exception as exc:
        raise ModelError(
            f"{path} cannot be rebuilt as a model ({first_line(exc)}); train it "
            "again with this version of eeg4students."
        ) from exc
    if not (hasattr(estimator, "predict") and hasattr(estimator, "classes_")):
        raise ModelError(f"{path} does not hold a fitted classifier.")
    return estimator


def save_model_file(estimator, path: Path) -> None:
    """Write an estimator to a skops file (the caller makes it atomic).

    The padding bytes of every decision tree's node records are zeroed
    first (:func:`clear_tree_padding`): they are uninitialised memory, which
    can hold whatever the process had there before, a forgotten
    participant's label included.
    """
    clear_tree_padding(estimator)
    sio.dump(estimator, path)


def clear_tree_padding(estimator) -> int:
    """Zero the unused bytes in the node records of every tree inside an estimator.

    scikit-learn stores a tree's nodes as C structs of 57 bytes of fields
    padded to 64; the padding is never written, so it keeps old memory
    contents, and a saved model carries them. Each tree's state is rebuilt
    from its fields into zeroed records; predictions are unchanged.

    Parameters
    ----------
    estimator : object
        A fitted estimator; pipelines, ensembles and the toolkit's models
        are searched through their attributes.

    Returns
    -------
    n_trees : int
        How many trees were cleaned.
    """
    from sklearn.tree._tree import Tree

    seen: set[int] = set()
    stack, cleaned = [estimator], 0
    while stack:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, str | bytes | int | float | np.ndarray):
            continue
        seen.add(id(obj))
        if isinstance(obj, Tree):
            state = obj.__getstate__()
            nodes = state["nodes"]
            clean = np.zeros(nodes.shape, nodes.dtype)
            for name in nodes.dtype.names:
                clean[name] = nodes[name]
            obj.__setstate__({**state, "nodes": clean})
            cleaned += 1
        elif isinstance(obj, list | tuple | set):
            stack.extend(obj)
        elif isinstance(obj, dict):
            stack.extend(obj.values())
        elif type(obj).__module__.split(".")[0] in ("sklearn", "eeg4students"):
            stack.extend(vars(obj).values() if hasattr(obj, "__dict__") else ())
    return cleaned
