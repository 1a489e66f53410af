"""The ``eeg4students`` command.

Each subcommand is a thin layer over the library: parse options, call one
function, print its result. The commands live in one module per group
(:mod:`~eeg4students.cli.data`, :mod:`~eeg4students.cli.analysis`,
:mod:`~eeg4students.cli.forgetting`, :mod:`~eeg4students.cli.session`,
:mod:`~eeg4students.cli.demo`); each imports what it uses when it runs, so
``--help`` and ``--version`` answer at once. Errors a user can cause are
printed as one line (no traceback) and the command exits with status 1;
usage errors exit with status 2.

``-v`` / ``-q`` set the level of the standard :mod:`logging` module for the
toolkit (logger ``eeg4students``) and MNE's verbosity; ``-q`` also hides
progress bars, which are only drawn on a terminal
(:func:`eeg4students._progress.progress_bar`).
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import logging
import os
import re
import sys
from collections.abc import Sequence

from eeg4students import __version__
from eeg4students._compat import (
    AppendAction,
    StoreAction,
    StoreTrueAction,
    SubParsersAction,
    parser_actions,
)
from eeg4students.cli import analysis, data, demo, forgetting, session
from eeg4students.cli._common import EXIT_ERROR, EXIT_INTERRUPTED, Number, text_value
from eeg4students.errors import EEG4StudentsError

__all__ = ["build_parser", "main", "run"]

log = logging.getLogger("eeg4students")


def _checked_text(parser, action: argparse.Action, values) -> None:
    """Refuse an empty text value, or one with control characters, naming the option."""
    for value in values if isinstance(values, list) else [values]:
        if isinstance(value, str):
            try:
                text_value(value)
            except argparse.ArgumentTypeError as exc:
                name = "/".join(action.option_strings) or action.metavar or action.dest
                parser.error(f"argument {name}: {exc}")


class _Once:
    """An option that must be given once (given twice, a usage error), its text checked."""

    def __call__(self, parser, namespace, values, option_string=None):
        if option_string is not None:
            given = namespace.__dict__.setdefault("_options_given", set())
            if self.dest in given:
                parser.error(f"{option_string} was given twice; give it once")
            given.add(self.dest)
        _checked_text(parser, self, values)
        super().__call__(parser, namespace, values, option_string)


class _StoreOnce(_Once, StoreAction):
    pass


class _StoreTrueOnce(_Once, StoreTrueAction):
    pass


class _AppendChecked(AppendAction):
    """A repeatable option (``--headset``, ``--author``), each value's text checked."""

    def __call__(self, parser, namespace, values, option_string=None):
        _checked_text(parser, self, values)
        super().__call__(parser, namespace, values, option_string)


class Parser(argparse.ArgumentParser):
    """The command's parser: options once each, text checked, errors in one line.

    Every option that takes one value may be given once (``--participant a
    --participant b`` is refused rather than the last one silently winning);
    every text value is checked by :func:`~eeg4students.cli._common.text_value`
    (not empty, no control characters).
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.register("action", None, _StoreOnce)
        self.register("action", "store", _StoreOnce)
        self.register("action", "store_true", _StoreTrueOnce)
        self.register("action", "append", _AppendChecked)

    def error(self, message: str):
        """A usage error: one line (with a suggestion), and where to read the options."""
        self.exit(2, f"{self.prog}: error: {_suggest(message)}\n(see '{self.prog} --help')\n")

    def parse_args(self, args=None, namespace=None):
        """Parse; an unknown option is named with the closest option of its command."""
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:
            parser = _command_parser(self, parsed)
            unknown = next((e for e in extras if e.startswith("-")), extras[0])
            known = [
                o for a in parser_actions(parser) for o in a.option_strings if o.startswith("--")
            ]
            close = difflib.get_close_matches(unknown.split("=")[0], known, n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            parser.error(f"unrecognized arguments: {' '.join(extras)}{hint}")
        return parsed


def _command_parser(parser: argparse.ArgumentParser, parsed) -> argparse.ArgumentParser:
    """The parser of the (sub-)command that was given (``dataset info`` included)."""
    for action in parser_actions(parser):
        if isinstance(action, SubParsersAction):
            name = getattr(parsed, action.dest, None)
            if name in action.choices:
                return _command_parser(action.choices[name], parsed)
    return parser


_CHOICE = re.compile(r"invalid choice: '(?P<given>[^']*)' \(choose from (?P<choices>.*)\)$")


def _suggest(message: str) -> str:
    """argparse's "invalid choice" message with the closest choice suggested."""
    match = _CHOICE.search(message)
    if match is None:
        return message
    choices = [c.strip().strip("'") for c in match["choices"].split(",")]
    close = difflib.get_close_matches(match["given"], choices, n=1)
    if not close:
        return message
    listed = ", ".join(choices)
    return (
        f"{message[: match.start()]}invalid choice {match['given']!r}; did you mean "
        f"{close[0]!r}? (choose from {listed})"
    )


def _shown(value) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value)


def _default_text(action: argparse.Action) -> str | None:
    """An option's default as help shows it: ``2``, ``1 40``, ``rf,svm,tmv``; None if none."""
    default = action.default
    if action.nargs == 0 or default is None or default is False or default is argparse.SUPPRESS:
        return None  # a flag (-v, --yes) has no default worth showing
    if isinstance(default, list | tuple):
        if not default:
            return None
        separator = " " if isinstance(action.nargs, int) else ","
        return separator.join(_shown(v) for v in default)
    return _shown(default)


class _HelpFormatter(argparse.HelpFormatter):
    """Help that shows each option's range, and its default when it has a meaningful one."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "%(default)" in text or not action.option_strings:
            return text
        if isinstance(action.type, Number):
            where = text.find(" (default")
            where = len(text) if where < 0 else where
            text = f"{text[:where]} [{action.type.describe()}]{text[where:]}"
        default = _default_text(action)
        if default is not None and "default" not in text:
            text += f" (default: {default.replace('%', '%%')})"
        return text


def _use_formatter(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = _HelpFormatter
    for action in parser_actions(parser):
        if isinstance(action, SubParsersAction):
            for child in action.choices.values():
                _use_formatter(child)


def build_parser() -> argparse.ArgumentParser:
    """Build the ``eeg4students`` argument parser.

    Returns
    -------
    parser : argparse.ArgumentParser
        Every command, with help and defaults; building it imports no heavy
        library.
    """
    parser = Parser(
        prog="eeg4students",
        description="EEG brain-computer-interface studies with consumer headsets: record, "
        "import, preprocess, classify, forget.",
        epilog="Run 'eeg4students COMMAND --help' for a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    volume = parser.add_mutually_exclusive_group()
    volume.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="say more (-v: what is done, -vv: debugging detail, MNE's too)",
    )
    volume.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="results and errors only: no notes, no progress lines",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in (data, session, analysis, forgetting, demo):
        group.add_parsers(sub)
    _use_formatter(parser)
    return parser


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time (tests and notebooks replace it)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


def _configure_output(verbose: int, quiet: bool) -> None:
    """Logging level for the toolkit and MNE (progress bars follow the toolkit's level)."""
    level = (
        logging.ERROR if quiet else (logging.WARNING, logging.INFO, logging.DEBUG)[min(verbose, 2)]
    )
    if not log.handlers:
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("eeg4students: %(levelname)s: %(message)s"))
        log.addHandler(handler)
        log.propagate = False
    log.setLevel(level)
    mne_level = {logging.DEBUG: "debug", logging.INFO: "info"}.get(level, "error")
    os.environ["MNE_LOGGING_LEVEL"] = mne_level
    if "mne" in sys.modules:
        sys.modules["mne"].set_log_level(mne_level)


def _parallel_backend(args: argparse.Namespace) -> contextlib.AbstractContextManager:
    """The joblib backend of a command's long work: every core unless ``--n-jobs`` says.

    Commands without joblib work (no ``--scheduler``) get nothing, and do not
    import joblib.
    """
    if not hasattr(args, "scheduler"):  # import runs its own worker processes
        return contextlib.nullcontext()
    from eeg4students.parallel import backend

    n_jobs = -1 if args.n_jobs is None else args.n_jobs
    return backend(n_jobs, getattr(args, "scheduler", None))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status.

    Parameters
    ----------
    argv : sequence of str | None
        The arguments after ``eeg4students``; None reads ``sys.argv``.

    Returns
    -------
    status : int
        0 on success, 1 for an error the user can fix (one line on stderr),
        2 for a usage error, 130 when interrupted.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    _configure_output(args.verbose, args.quiet)
    try:
        with _parallel_backend(args):
            return int(args.func(args) or 0)
    except EEG4StudentsError as exc:
        print(f"eeg4students: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except OSError as exc:
        # The operating system refused (no such folder, no permission, disk full):
        # name the file and the reason, as for the toolkit's own errors.
        where = f"{exc.filename}: " if exc.filename else ""
        reason = exc.strerror or str(exc)
        print(
            f"eeg4students: error: {where}{reason}; check the path, its permissions and the "
            "free space.",
            file=sys.stderr,
        )
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("eeg4students: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def run() -> None:
    """Console-script entry point."""
    if not sys.stdout.isatty():
        # Into a pipe or a log (`make demo | tee log`), each line as it is printed.
        with contextlib.suppress(AttributeError, ValueError):
            sys.stdout.reconfigure(line_buffering=True)
    sys.exit(main())
