"""Property tests of untrusted input: damaged model files, every numeric option, web requests.

Hypothesis draws the damage; each case must end in a correct result or one
clean error line, never in a crash, a hang, a memory blow-up (every model
file is loaded and used in a forked child under 2 GB, see :mod:`isolated`), a
traceback or a changed dataset. ``EEG4STUDENTS_FUZZ=500 pytest ...`` runs a
deeper round.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import io
import json
import math
import os
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from isolated import run_isolated

from eeg4students._compat import SubParsersAction, parser_actions
from eeg4students.cli import build_parser, main
from eeg4students.cli._common import Number
from eeg4students.simulate import simulate_to_dataset
from eeg4students.training import train_model

EXAMPLES = int(os.environ.get("EEG4STUDENTS_FUZZ", "40"))
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
MODELS = {"rf": {"n_estimators": 5}, "svm": {}, "gb": {"n_estimators": 3}, "knn": {}}


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("fuzz") / "lab"
    simulate_to_dataset(root, 3, 1, seed=11, task_seconds=10, progress=False)
    for name, params in MODELS.items():
        train_model(root, name, name, model_params=params, progress=False)
    return root


def _run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = main(argv)
        except SystemExit as exit_:
            status = exit_.code
    return status, out.getvalue(), err.getvalue()


def _files(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in root.rglob("*")
        if p.is_file() and p.name != ".eeg4students.lock"
    }


def _clean_error(status: int, err: str) -> bool:
    lines = [line for line in err.splitlines() if line.strip() and "\r" not in line]
    if status == 1:
        return len(lines) == 1 and lines[0].startswith("eeg4students: error: ")
    if status == 2:
        return len(lines) == 2 and ": error: " in lines[0] and "--help" in lines[1]
    return False


# -- model files ----------------------------------------------------------------------------


def _json_nodes(node, found):
    if isinstance(node, dict):
        if node.get("__loader__") == "JsonNode":
            found.append(node)
        for value in node.values():
            _json_nodes(value, found)
    elif isinstance(node, list):
        for value in node:
            _json_nodes(value, found)
    return found


WILD_JSON = st.one_of(
    st.integers(min_value=-(10**20), max_value=10**20),
    st.sampled_from([0, -1, 1, 2**31, 2**63, -(2**63), 10**9]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.none(),
    st.booleans(),
    st.lists(st.integers(min_value=-5, max_value=10**6), max_size=4),
)
WILD_NUMBERS = st.one_of(
    st.sampled_from([-1, 0, 1, 2, 10**6, 10**9, 2**62, -(2**62)]),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True, width=64),
)


@st.composite
def damage(draw, names: list[str]):
    """(model name, what to change): JSON values, array cells, array headers, cut entries."""
    name = draw(st.sampled_from(names))
    kind = draw(st.sampled_from(["json", "cells", "shape", "drop"]))
    return (
        name,
        kind,
        draw(st.integers(min_value=0, max_value=10**6)),
        draw(WILD_JSON),
        draw(WILD_NUMBERS),
    )


def _damaged_copy(lab: Path, tmp: Path, name, kind, pick, value, number) -> Path:
    folder = tmp / f"{name}-damaged"
    if folder.exists():
        shutil.rmtree(folder)
    shutil.copytree(lab / "derivatives" / "eeg4students" / "models" / name, folder)
    with zipfile.ZipFile(folder / "model.skops") as archive:
        entries = {n: archive.read(n) for n in archive.namelist()}
    schema = json.loads(entries["schema.json"])
    arrays = sorted(n for n in entries if n.endswith(".npy"))
    if kind == "json":
        nodes = _json_nodes(schema, [])
        nodes[pick % len(nodes)]["content"] = json.dumps(value)
    elif kind in ("cells", "shape"):
        entry = arrays[pick % len(arrays)]
        array = np.load(io.BytesIO(entries[entry]))
        if kind == "cells" and array.size:
            flat = array.reshape(-1)
            index = pick % flat.size
            if array.dtype.names:
                field = array.dtype.names[pick % len(array.dtype.names)]
                target = flat[field]
            else:
                target = flat
            with contextlib.suppress(OverflowError, ValueError, TypeError):
                target[index] = number
        elif kind == "shape":
            array = array.reshape(-1)[: max(0, array.size - 1 - pick % 3)]
        out = io.BytesIO()
        np.save(out, array)
        entries[entry] = out.getvalue()
    else:
        del entries[arrays[pick % len(arrays)]]
    entries["schema.json"] = json.dumps(schema).encode()
    with zipfile.ZipFile(folder / "model.skops", "w") as archive:
        for entry, data in entries.items():
            archive.writestr(entry, data)
    return folder


def _predict(folder: Path, recording: Path):
    return _run(["predict", str(folder), str(recording)])


@SETTINGS
@given(data=st.data())
def test_a_damaged_model_file_predicts_or_is_refused_never_crashes(lab, tmp_path, data):
    recording = next(lab.rglob("*_eeg.vhdr"))
    name, kind, pick, value, number = data.draw(damage(sorted(MODELS)))
    folder = _damaged_copy(lab, tmp_path, name, kind, pick, value, number)
    outcome = run_isolated(_predict, folder, recording, timeout=120)
    assert outcome.kind == "returned", f"{name} {kind}: {outcome.kind} {outcome.detail}"
    status, out, err = outcome.value
    assert "Traceback" not in err
    assert status == 0 or _clean_error(status, err), (name, kind, status, err)
    if status == 0:
        assert "predicted" in out


# -- every numeric option of every command --------------------------------------------------


def _numeric_options() -> list[tuple[list[str], argparse.Action]]:
    """(command words, action) of every option whose type is :class:`Number`."""
    found = []

    def walk(parser, words):
        for action in parser_actions(parser):
            if isinstance(action, SubParsersAction):
                for name, child in action.choices.items():
                    walk(child, [*words, name])
            elif isinstance(action.type, Number) and action.option_strings:
                found.append((words, action))

    walk(build_parser(), [])
    return found


NUMERIC = _numeric_options()
#: The positional arguments each command needs to be parsed.
POSITIONAL = {
    ("features",): ["DATASET"],
    ("evaluate",): ["DATASET", "--out", "OUT"],
    ("train",): ["DATASET", "--name", "x"],
    ("predict",): ["MODEL", "REC"],
    ("live",): ["--board", "synthetic", "--model", "M"],
    ("import",): ["F", "--to", "D"],
    ("simulate",): ["--to", "D"],
    ("record",): ["--board", "synthetic", "--participant", "p", "--session", "1", "--to", "D"],
    ("classroom",): ["--to", "D", "--session", "1"],
    ("join",): ["URL", "--board", "synthetic"],
    ("forget",): ["DATASET", "--participant", "p"],
    ("demo",): [],
}

TEXTS = st.one_of(
    st.sampled_from(["nan", "inf", "-inf", "1e308", "1e-320", "-0", "0x10", "1_000", "", " "]),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.text(max_size=12),
)


def test_every_numeric_option_is_found():
    words = {tuple(w) for w, _ in NUMERIC}
    assert len(NUMERIC) >= 30 and words <= set(POSITIONAL), sorted(words - set(POSITIONAL))


@settings(max_examples=max(EXAMPLES * 10, 300), deadline=None)
@given(pick=st.integers(min_value=0, max_value=10**6), text=TEXTS)
def test_every_numeric_option_takes_a_value_in_its_range_or_refuses_it_in_one_line(pick, text):
    words, action = NUMERIC[pick % len(NUMERIC)]
    values = [text] * (action.nargs if isinstance(action.nargs, int) else 1)
    argv = [*words, *POSITIONAL[tuple(words)], action.option_strings[0], *values]
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            args = build_parser().parse_args(argv)
        except SystemExit as exit_:
            assert exit_.code == 2 and _clean_error(2, err.getvalue()), (argv, err.getvalue())
            return
    parsed = getattr(args, action.dest)
    for value in parsed if isinstance(parsed, list | tuple) else [parsed]:
        number: Number = action.type
        assert math.isfinite(value) or value in number.also, (argv, value)
        if value not in number.also:
            assert number.low is None or value >= number.low, (argv, value)
            assert number.high is None or value <= number.high, (argv, value)


FEATURE_OPTIONS = ["--window", "--hop", "--line-freq", "--transition", "--max-ptp", "--min-kept"]


@settings(max_examples=max(EXAMPLES // 2, 15), deadline=None)
@given(option=st.sampled_from(FEATURE_OPTIONS), text=TEXTS)
def test_features_with_any_value_succeeds_or_refuses_leaving_the_dataset_unchanged(
    lab, option, text
):
    before = _files(lab)
    status, _, err = _run(["-q", "features", str(lab), option, text])
    assert "Traceback" not in err
    if status != 0:
        assert _clean_error(status, err), (option, text, err)
        assert _files(lab) == before, (option, text)


# -- malformed web requests -----------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from eeg4students.classroom import Classroom
    from eeg4students.roster import Seat
    from eeg4students.web import Keys, Server, bind

    room = Classroom(
        tmp_path_factory.mktemp("web") / "ds",
        "1",
        [Seat("a", "synthetic")],
        protocol="quick",
        task_seconds=1,
    )
    keys = Keys()
    served = Server(room, keys, bind("127.0.0.1", 0))
    served.start()
    yield served, keys
    served.stop()


REQUEST_TEXT = st.text(
    alphabet=st.characters(codec="latin-1", exclude_characters="\r\n"), max_size=40
)


@settings(max_examples=max(EXAMPLES * 3, 100), deadline=None)
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "OPTIONS", "HEAD"]),
    path=st.sampled_from(["/", "/student/a", "/student/", "/api/start", "/api/x", "/ws", "/zz"]),
    suffix=st.text(alphabet="./%2fAa?&=#", max_size=12),
    token=st.one_of(st.none(), REQUEST_TEXT, st.sampled_from(["%C3%A9", "%00", "%FF"])),
    host=st.one_of(st.none(), REQUEST_TEXT, st.sampled_from(["evil.example", "", "[::1]"])),
    origin=st.one_of(st.none(), REQUEST_TEXT),
    use_key=st.booleans(),
)
def test_a_malformed_request_gets_a_clean_refusal_never_a_500(
    server, method, path, suffix, token, host, origin, use_key
):
    served, keys = server
    where = served.url.removeprefix("http://")
    address, port = where.rsplit(":", 1)
    query = f"?token={keys.teacher if use_key else token}" if token is not None or use_key else ""
    connection = http.client.HTTPConnection(address, int(port), timeout=10)
    try:
        connection.putrequest(
            method, path + suffix + query, skip_host=True, skip_accept_encoding=True
        )
        connection.putheader("Host", where if host is None else host)
        if origin is not None:
            connection.putheader("Origin", origin)
        connection.endheaders()
        response = connection.getresponse()
        response.read()
    except (http.client.HTTPException, UnicodeEncodeError, ValueError):
        return  # the client itself refused to send it
    finally:
        connection.close()
    assert response.status < 500, (method, path + suffix + query, host, response.status)
    assert "location" not in {h.lower() for h, _ in response.getheaders()}
