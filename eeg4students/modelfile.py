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

import io
import zipfile
from pathlib import Path

import numpy as np
import skops.io as sio
from sklearn.kernel_approximation import RBFSampler
from sklearn.neighbors import KDTree

from eeg4students import _json as limited_json
from eeg4students._compat import sklearn_held, type_name
from eeg4students.errors import ModelError, first_line
from eeg4students.modelcheck import check_loaded
from eeg4students.modelstate import CHECKS

#: Largest ``schema.json`` read (bytes): a 300-tree forest's schema is about 6 MB.
MAX_SCHEMA_BYTES = 32 * 1024 * 1024
#: Largest array in a model file (bytes), as its header declares it.
MAX_ARRAY_BYTES = 256 * 1024 * 1024
#: Largest total of a model file's arrays (bytes), each counted as often as it is built:
#: loading holds the file, skops's copy of each array and the array itself, so a model at
#: this limit stays well under 2 GB (a 300-tree forest on 12,000 windows is about 60 MB).
MAX_TOTAL_BYTES = 384 * 1024 * 1024
#: Longest value a ``JsonNode`` holds (characters): the toolkit's are names and numbers.
MAX_JSON_VALUE = 4096
#: Deepest nesting inside one ``JsonNode`` value.
MAX_JSON_VALUE_DEPTH = 8
#: Most dimensions of an array.
MAX_ARRAY_DIMS = 8
#: Largest ``.npy`` header read (bytes).
MAX_NPY_HEADER = 4096

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

#: Every type the toolkit's models contain, exactly (``module.Class``), named from the
#: classes themselves so that the list follows where the installed versions keep them:
#: every estimator :mod:`eeg4students.modelstate` checks, and what they hold.
ALLOWED_TYPES = frozenset(
    {
        # containers and values
        "builtins.dict",
        "builtins.list",
        "builtins.tuple",
        "builtins.str",
        *map(type_name, (np.ndarray, np.float64, np.int64, np.str_, np.random.RandomState)),
        # the estimators (each has its check)
        *CHECKS,
        # what they hold: a nearest-neighbour index, random Fourier features' sampler
        *map(type_name, (KDTree, RBFSampler)),
        # and what scikit-learn does not export (tree nodes, a metric, losses)
        *(type_name(held) for held in sklearn_held().values() if held is not None),
    }
)
#: The only type a ``TypeNode`` may name (skops records a dict's key types with it).
ALLOWED_TYPE_VALUES = frozenset({"builtins.str"})


def _refused(path: Path, problem: str) -> ModelError:
    return ModelError(f"{path}: {problem}; it was not made by eeg4students, so it was refused.")


def _read_schema(path: Path, archive: zipfile.ZipFile):
    info = archive.getinfo("schema.json")
    if info.file_size > MAX_SCHEMA_BYTES:
        raise ModelError(
            f"{path}: its schema is {info.file_size:,} bytes, far more than any "
            "eeg4students model's; it was not made by eeg4students."
        )
    try:
        return limited_json.loads(archive.read(info))
    except limited_json.JSONLimitError as exc:
        raise _refused(path, f"its schema is {exc}") from exc


def _array_bytes(path: Path, archive: zipfile.ZipFile, name: object) -> int:
    """Bytes an ``.npy`` entry of the zip declares, checked against its size (never read whole)."""
    try:
        info = archive.getinfo(str(name))
    except KeyError:
        raise _refused(path, f"its schema names an array file {name!r} it does not hold") from None
    try:
        with archive.open(info) as handle:
            head = io.BytesIO(handle.read(MAX_NPY_HEADER))
        version = np.lib.format.read_magic(head)
        reader = {
            (1, 0): np.lib.format.read_array_header_1_0,
            (2, 0): np.lib.format.read_array_header_2_0,
        }.get(version)
        if reader is None:
            raise ValueError(f"npy version {version}")
        shape, _, dtype = reader(head, max_header_size=MAX_NPY_HEADER)
    except (ValueError, EOFError, OSError, zipfile.BadZipFile, NotImplementedError) as exc:
        raise _refused(path, f"its array {name} is damaged ({first_line(exc)})") from exc
    if dtype.hasobject or len(shape) > MAX_ARRAY_DIMS:
        raise _refused(path, f"its array {name} holds Python objects or too many dimensions")
    declared = int(np.prod(shape, dtype=object)) * dtype.itemsize
    if declared > MAX_ARRAY_BYTES:
        raise _refused(
            path,
            f"its array {name} declares {declared:,} bytes, more than a model's array may hold "
            f"({MAX_ARRAY_BYTES:,})",
        )
    if declared != info.file_size - head.tell():
        raise _refused(path, f"its array {name} is not the size its header declares")
    return declared


def _check_schema(path: Path, archive: zipfile.ZipFile, schema) -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    arrays: dict[object, int] = {}
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
            continue
        if not isinstance(node, dict):
            continue
        stack.extend(node.values())
        if "__loader__" not in node and "__class__" not in node:
            continue
        loader = str(node.get("__loader__"))
        name = f"{node.get('__module__')}.{node.get('__class__')}"
        found.add((loader, name))
        if loader == "JsonNode":
            content = node.get("content")
            if not isinstance(content, str) or len(content) > MAX_JSON_VALUE:
                raise _refused(path, "it holds a value far longer than any model parameter")
            if limited_json.nesting_depth(content) > MAX_JSON_VALUE_DEPTH:
                raise _refused(path, "it holds a value nested deeper than any model parameter")
        if loader == "NdArrayNode" and node.get("type") == "numpy":
            key = node.get("__id__", object())  # skops builds a node once per id
            if not isinstance(key, int):
                key = object()
            if key not in arrays:
                arrays[key] = _array_bytes(path, archive, node.get("file"))
        elif loader == "NdArrayNode" and node.get("type") != "json":
            raise _refused(path, f"it holds an array of kind {node.get('type')!r}")
    total = sum(arrays.values())
    if total > MAX_TOTAL_BYTES:
        raise _refused(
            path,
            f"its arrays add up to {total:,} bytes, more than a model may hold "
            f"({MAX_TOTAL_BYTES:,})",
        )
    return found


def _open_archive(path: Path, data: bytes | None = None) -> zipfile.ZipFile:
    return zipfile.ZipFile(io.BytesIO(data) if data is not None else path)


def schema_types(path: Path, data: bytes | None = None) -> set[tuple[str, str]]:
    """Every (node kind, ``module.Class``) in a skops file's schema, its sizes checked.

    The schema's nesting, every value's length and every array's declared
    size (and their total, an array counted once per node that builds it) are
    checked on the way; no array is read.

    Parameters
    ----------
    path : Path
        The ``.skops`` file (named in messages).
    data : bytes | None
        The file's content, if already read; None reads ``path``.

    Returns
    -------
    types : set of (str, str)

    Raises
    ------
    ModelError
        If the file is not a skops zip, or its schema is missing, too large,
        too deep or not JSON, or it holds values or arrays larger than a
        toolkit model's.
    """
    try:
        with _open_archive(path, data) as archive:
            schema = _read_schema(path, archive)
            return _check_schema(path, archive, schema)
    except ModelError:
        raise
    except (zipfile.BadZipFile, KeyError, OSError, EOFError, ValueError, RuntimeError) as exc:
        raise ModelError(
            f"{path} is not a readable skops model file ({exc.__class__.__name__}); train the "
            "model again or ask for a new copy."
        ) from exc


def check_model_file(path: Path, data: bytes | None = None) -> list[str]:
    """Refuse a model file holding anything outside the allow-list, or too much.

    Parameters
    ----------
    path : Path
        The ``.skops`` file.
    data : bytes | None
        The file's content, if already read.

    Returns
    -------
    types : list of str
        The types the file holds, all on the allow-list: what to pass to
        ``skops.io.load`` as ``trusted`` (it refuses anything else).

    Raises
    ------
    ModelError
        Naming the first few foreign types or node kinds, or the size limit
        the file breaks.
    """
    found = schema_types(path, data)
    foreign = sorted(
        f"{name} ({node})"
        for node, name in found
        if node not in ALLOWED_NODES
        or name not in ALLOWED_TYPES
        or (node == "TypeNode" and name not in ALLOWED_TYPE_VALUES)
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


def read_model_bytes(path: Path) -> bytes:
    """A model file's content, refused unread when larger than a model may be."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_TOTAL_BYTES + MAX_SCHEMA_BYTES:
            raise _refused(path, f"it is {size:,} bytes, more than any model's")
        return path.read_bytes()
    except OSError as exc:
        raise ModelError(f"{path}: cannot read the model file ({exc.strerror or exc}).") from exc


def load_model_file(
    path: Path,
    *,
    n_features: int | None = None,
    data: bytes | None = None,
    trusted: list[str] | None = None,
):
    """Load an estimator from a skops file, checked before and after it is rebuilt.

    The file is read once; its schema is checked (:func:`check_model_file`)
    on those bytes, skops rebuilds the model from the same bytes, and every
    object of the model is checked (:func:`eeg4students.modelcheck.check_loaded`)
    before it is returned.

    Parameters
    ----------
    path : Path
        The ``.skops`` file.
    n_features : int | None
        The number of features the model must take (its card's), if known.
    data, trusted : bytes, list of str | None
        The file's content and what :func:`check_model_file` returned for
        it, when the caller already checked it; None does both here.

    Returns
    -------
    estimator : a fitted scikit-learn estimator

    Raises
    ------
    ModelError
        If the file is refused or cannot be rebuilt.
    """
    path = Path(path)
    if data is None or trusted is None:
        data = read_model_bytes(path)
        trusted = check_model_file(path, data)
    try:
        estimator = sio.loads(data, trusted=trusted)
    except Exception as exc:
        raise ModelError(
            f"{path} cannot be rebuilt as a model ({first_line(exc)}); train it "
            "again with this version of eeg4students."
        ) from exc
    if not (hasattr(estimator, "predict") and hasattr(estimator, "classes_")):
        raise ModelError(f"{path} does not hold a fitted classifier.")
    check_loaded(estimator, path, n_features=n_features)
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
    tree_class = sklearn_held()["tree"]
    seen: set[int] = set()
    stack, cleaned = [estimator], 0
    while stack:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, str | bytes | int | float | np.ndarray):
            continue
        seen.add(id(obj))
        if tree_class is not None and isinstance(obj, tree_class):
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
