"""The command line's help and usage errors, as a newcomer reads them."""

from __future__ import annotations

import re

import pytest

from eeg4students._compat import SubParsersAction, parser_actions
from eeg4students.cli import build_parser, main


def _parsers():
    """(words, parser) of the command and every sub-command."""
    found, stack = [], [([], build_parser())]
    while stack:
        words, parser = stack.pop()
        found.append((words, parser))
        for action in parser_actions(parser):
            if isinstance(action, SubParsersAction):
                stack += [([*words, name], child) for name, child in action.choices.items()]
    return found


@pytest.mark.parametrize("words", [w for w, _ in _parsers()], ids=lambda w: " ".join(w) or "top")
def test_help_fits_100_columns_and_shows_defaults_one_way(words, monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")
    parser = dict((tuple(w), p) for w, p in _parsers())[tuple(words)]
    text = parser.format_help()
    assert max(len(line) for line in text.splitlines()) <= 100, text
    # Defaults: "(default: X)", never Python values, never for flags.
    assert not re.search(r"\(default [^:]", text), text
    assert "['" not in text and "(default: ())" not in text
    flags = [a for a in parser_actions(parser) if a.option_strings and a.nargs == 0]
    for flag in flags:
        line = next(line for line in text.splitlines() if flag.option_strings[-1] in line)
        assert "(default" not in line, line
    # Lists of names are wrapped at commas, never inside a name.
    for line in text.splitlines():
        assert not re.search(r"[a-z]+,[a-z]+,[a-z]+,", line.strip()) or "{" in line, line


def _usage_error(argv, capsys) -> str:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    return capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "suggestion"),
    [
        (["featurs", "x"], "did you mean 'features'?"),
        (["features", "x", "--windw", "3"], "did you mean --window?"),
        (["evaluate", "x", "--out", "o", "--scheme", "losso"], "did you mean 'loso'?"),
        (["evaluate", "x", "--out", "o", "--models", "rf,svn"], "did you mean 'svm'?"),
        (["dataset", "infoo", "x"], "did you mean 'info'?"),
    ],
)
def test_a_usage_error_is_one_line_with_a_suggestion_and_a_pointer(argv, suggestion, capsys):
    err = _usage_error(argv, capsys)
    lines = err.strip().splitlines()
    assert len(lines) == 2 and suggestion in lines[0] and "usage:" not in err
    assert lines[1].startswith("(see 'eeg4students") and lines[1].endswith("--help')")


def test_an_unknown_headset_is_given_the_closest_name(capsys):
    from eeg4students.boards import get_board
    from eeg4students.errors import BoardError

    with pytest.raises(BoardError, match="did you mean 'muse_2'"):
        get_board("muse2x")
