"""Protocol files: the built-in EEG4Students protocol and clear errors for mistakes."""

from __future__ import annotations

import pytest
import yaml

from eeg4students.errors import ProtocolError
from eeg4students.protocol import load_protocol

ORDERS = {
    "1": "Think Count Recall Breathe Draw",
    "2": "Breathe Think Count Recall Draw",
    "3": "Think Breathe Recall Count Draw",
    "4": "Think Count Recall Breathe Draw",
    "5": "Count Think Recall Draw Breathe",
    "6": "Think Count Breathe Recall Draw",
}


def test_builtin_protocol_matches_the_study():
    protocol = load_protocol()
    assert protocol.task_names == ("Think", "Count", "Recall", "Breathe", "Draw")
    assert [t.code for t in protocol.tasks] == [1, 2, 3, 4, 5]
    assert protocol.task_seconds == 60 and protocol.transition_share == 0.3
    assert {k: " ".join(v) for k, v in protocol.sessions.items()} == ORDERS
    assert all(t.instruction for t in protocol.tasks)
    assert protocol.order(7) == protocol.order(1)


def _write(tmp_path, mutate):
    data = yaml.safe_load(_builtin_path().read_text(encoding="utf-8"))
    mutate(data)
    path = tmp_path / "protocol.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _builtin_path():
    from importlib import resources

    return resources.files("eeg4students") / "protocols" / "eeg4students.yaml"


@pytest.mark.parametrize(
    ("mutate", "key", "problem"),
    [
        (lambda d: d["sessions"]["2"].append("Dance"), "sessions.2", "unknown task 'Dance'"),
        (lambda d: d.update(task_seconds=-5), "task_seconds", "must be between"),
        (lambda d: d.update(task_seconds=float("nan")), "task_seconds", "must be between"),
        (lambda d: d.update(rest_seconds=float("inf")), "rest_seconds", "must be between"),
        (lambda d: d["tasks"][2].pop("instruction"), "tasks[2].instruction", "no instruction"),
        (lambda d: d["tasks"][1].update(code=1), "tasks[1].code", "used twice"),
        (lambda d: d.pop("sessions"), "sessions", "is missing"),
        (lambda d: d.update(transition_share=1.5), "transition_share", "between"),
        (lambda d: d["tasks"][0].update(name="Think aloud"), "tasks[0].name", "letters"),
    ],
)
def test_mistakes_name_file_key_and_problem(tmp_path, mutate, key, problem):
    path = _write(tmp_path, mutate)
    with pytest.raises(ProtocolError) as info:
        load_protocol(path)
    message = str(info.value)
    assert message.startswith(str(path))
    assert f": {key}: " in message
    assert problem in message


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(ProtocolError, match="no such protocol file") as info:
        load_protocol(tmp_path / "nope.yaml")
    assert "built-in protocols: eeg4students, quick" in str(info.value)
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(ProtocolError, match="line 2: not valid YAML"):
        load_protocol(bad)


def test_aliases_deep_nesting_and_huge_files_are_refused(tmp_path):
    laughs = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
        for i in range(8)
    )
    cases = {
        "laughs.yaml": (laughs, "not valid YAML"),
        "deep.yaml": ("a: " + "[" * 50_000 + "]" * 50_000 + "\n", "not valid YAML"),
        "big.yaml": ("# " + "x" * (2 * 1024 * 1024) + "\n", "far larger"),
    }
    for name, (text, message) in cases.items():
        path = tmp_path / name
        path.write_text(text)
        with pytest.raises(ProtocolError, match=message):
            load_protocol(path)


@pytest.mark.parametrize("seconds", [float("nan"), float("inf"), -1.0, 0.0, 1e12])
def test_a_task_length_override_must_be_finite_and_bounded(seconds):
    with pytest.raises(ProtocolError, match="task length must be"):
        load_protocol("quick").with_timing(seconds)
