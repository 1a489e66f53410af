"""Each reach into a dependency's private API is gated, and falls back when the gate is shut."""

from __future__ import annotations

import types

import mne
from packaging.version import Version

from eeg4students import _compat
from eeg4students._compat import (
    installed,
    is_tested,
    parser_actions,
    sklearn_held,
    type_name,
    unlocked,
)
from eeg4students.simulate import simulate_recording
from eeg4students.store import Dataset


def test_versions_are_read_and_compared_within_a_span():
    assert installed("scikit-learn") is not None and installed("no-such-package-here") is None
    now = installed("numpy")
    assert is_tested("numpy", (now, Version(f"{now.major + 1}")))
    assert not is_tested("numpy", (Version(f"{now.major + 1}"), Version(f"{now.major + 2}")))
    assert not is_tested("no-such-package-here", (Version("0"), Version("99")))


def test_every_class_a_fitted_model_holds_is_found_on_the_installed_scikit_learn():
    # Were one missing, models holding it would be refused: the allow-list names them.
    assert all(isinstance(cls, type) for cls in sklearn_held().values()), sklearn_held()
    assert type_name(sklearn_held()["tree"]) == "sklearn.tree._tree.Tree"


def test_info_fields_are_set_with_or_without_mne_guard():
    raw = mne.io.RawArray([[0.0] * 10], mne.create_info(1, 100.0, "eeg"), verbose="error")
    with unlocked(raw.info):
        raw.info["device_info"] = {"model": "muse"}
    assert raw.info["device_info"]["model"] == "muse"
    plain = types.SimpleNamespace()  # an object without a guard: nothing to lift
    with unlocked(plain):
        plain.value = 1
    assert plain.value == 1


def test_the_parsers_actions_are_reachable():
    from eeg4students.cli import build_parser

    assert any("--version" in a.option_strings for a in parser_actions(build_parser()))


def test_an_untested_mne_bids_is_used_as_it_is(tmp_path, monkeypatch):
    import eeg4students._mne_bids_quick as quick

    entered = []
    real = quick.quick_writes

    def spy():
        entered.append(True)
        return real()

    monkeypatch.setattr(quick, "quick_writes", spy)
    recording = simulate_recording(0, 1, seed=5, task_seconds=5)
    # Outside the tested span the dataset's lock leaves mne-bids as it is...
    monkeypatch.setattr(_compat, "MNE_BIDS_TESTED", (Version("0.0"), Version("0.1")))
    Dataset.create(tmp_path / "plain").add_recording(recording, "p01", "1", "eeg4students")
    assert entered == []
    # ...inside it, writes go through the wrappers.
    now = installed("mne-bids")
    monkeypatch.setattr(_compat, "MNE_BIDS_TESTED", (now, Version(f"{now.major + 1}")))
    Dataset.create(tmp_path / "quick").add_recording(recording, "p01", "1", "eeg4students")
    assert entered
