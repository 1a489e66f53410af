"""JSON from files other people made, read with a nesting limit.

Python's ``json`` module parses nested arrays and objects recursively: a
file of 100,000 ``[`` characters ends in a ``RecursionError`` deep inside the
parser, and code that walks what was read (skops rebuilding a model, the
toolkit's own checks) recurses as well. Every JSON file the toolkit reads
(model schemas and cards, package manifests, sidecars, journals, audit
lines) goes through :func:`loads`, which counts the nesting first, without
recursion, and refuses a document nested deeper than any the toolkit writes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

#: Deepest nesting of arrays and objects accepted (the toolkit's own files stay
#: under 40; a model's schema is the deepest).
MAX_DEPTH = 100

_QUOTE, _BACKSLASH = ord('"'), ord("\\")
_OPENING, _CLOSING = (ord("["), ord("{")), (ord("]"), ord("}"))


#: Texts up to this long are scanned in Python (NumPy's set-up costs more for them).
_SHORT = 4096


def _short_depth(text: str) -> int:
    """:func:`nesting_depth` of a short text, one character at a time."""
    if "[" not in text and "{" not in text:
        return 0
    depth = deepest = 0
    inside = escaped = False
    for char in text:
        if inside:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                inside = False
        elif char == '"':
            inside = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


class JSONLimitError(ValueError):
    """A JSON document nested deeper than :data:`MAX_DEPTH` (or too deep to parse)."""


def nesting_depth(data: str | bytes) -> int:
    """How deeply arrays and objects nest in a JSON text, counted without recursion.

    Brackets inside strings (between quotes not escaped by a backslash) do
    not count, as a parser reads them. Memory and time grow with the number
    of quotes and brackets, never with how deep they nest.

    Parameters
    ----------
    data : str | bytes
        The JSON text.

    Returns
    -------
    depth : int
        0 for a scalar, 1 for ``[1, 2]``, 2 for ``{"a": [1]}``.
    """
    if isinstance(data, str) and len(data) <= _SHORT:
        return _short_depth(data)
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else bytes(data)
    text = np.frombuffer(raw, dtype=np.uint8)
    quotes = np.flatnonzero(text == _QUOTE)
    slashes = np.flatnonzero(text == _BACKSLASH)
    if len(quotes) and len(slashes):
        # A quote after an odd run of backslashes is escaped: it neither opens nor closes.
        breaks = np.flatnonzero(np.diff(slashes) != 1)
        ends = slashes[np.append(breaks, len(slashes) - 1)]
        lengths = ends - slashes[np.insert(breaks + 1, 0, 0)] + 1
        run = np.minimum(np.searchsorted(ends, quotes - 1), len(ends) - 1)
        quotes = quotes[~((ends[run] == quotes - 1) & (lengths[run] % 2 == 1))]
    opening = np.flatnonzero(np.isin(text, _OPENING))
    closing = np.flatnonzero(np.isin(text, _CLOSING))
    positions = np.concatenate([opening, closing])
    steps = np.concatenate([np.ones(len(opening), np.int64), -np.ones(len(closing), np.int64)])
    order = np.argsort(positions, kind="stable")
    positions, steps = positions[order], steps[order]
    # Brackets after an even number of real quotes lie outside strings.
    steps = steps[np.searchsorted(quotes, positions) % 2 == 0]
    return int(np.cumsum(steps).max(initial=0)) if len(steps) else 0


def loads(data: str | bytes, *, max_depth: int = MAX_DEPTH) -> Any:
    """Parse JSON text, refusing nesting deeper than ``max_depth``.

    Parameters
    ----------
    data : str | bytes
        The JSON text (bytes are decoded as UTF-8).
    max_depth : int
        Deepest nesting of arrays and objects accepted.

    Returns
    -------
    value : object
        What ``json.loads`` returns.

    Raises
    ------
    JSONLimitError
        If the document nests deeper than ``max_depth``.
    ValueError
        If it is not JSON (``json.JSONDecodeError``) or not UTF-8
        (``UnicodeDecodeError``), as ``json.loads`` raises them.
    """
    depth = nesting_depth(data)
    if depth > max_depth:
        raise JSONLimitError(
            f"nested {depth:,} levels deep, more than the {max_depth} any eeg4students file has"
        )
    try:
        return json.loads(data)
    except RecursionError as exc:  # a backstop: the count above should prevent it
        raise JSONLimitError("nested too deeply to parse") from exc


def read_object(
    path: Path, *, error: type[Exception], message: str, max_bytes: int | None = None
) -> dict:
    """A JSON object from a file other people may have made, or one sentence naming the file.

    Parameters
    ----------
    path : Path
        The file.
    error : exception class
        Raised when the file is not a JSON object (the toolkit's error of the caller's kind).
    message : str
        The sentence, with ``{path}`` and ``{why}`` (what is wrong) to fill in, e.g.
        ``"{path} is damaged ({why}); restore it from a backup."``.
    max_bytes : int | None
        Refuse a larger file unread.

    Returns
    -------
    content : dict

    Raises
    ------
    error
        For a file too large, not UTF-8, not JSON, nested too deeply or not an object.
    """
    if max_bytes is not None and path.stat().st_size > max_bytes:
        raise error(message.format(path=path, why=f"larger than {max_bytes:,} bytes"))
    try:
        content = loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        why = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
        raise error(message.format(path=path, why=why)) from exc
    if not isinstance(content, dict):
        raise error(message.format(path=path, why="not a JSON object"))
    return content
