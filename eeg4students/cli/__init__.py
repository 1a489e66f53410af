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
import logging
import os
import sys
from collections.abc import Sequence

from eeg4students import __version__
from eeg4students.cli import analysis, data, demo, forgetting, session
from eeg4students.cli._common import EXIT_ERROR, EXIT_INTERRUPTED
from eeg4students.errors import EEG4StudentsError

__all__ = ["build_parser", "main", "run"]

log = logging.getLogger("eeg4students")


class _HelpFormatter(argparse.HelpFormatter):
    """Help that shows each option's default when it has a meaningful one."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if (
            "%(default)" in text
            or "default" in text
            or default is None
            or default is False
            or default is argparse.SUPPRESS
            or action.option_strings == []
        ):
            return text
        return f"{text} (default: %(default)s)"


def _use_formatter(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = _HelpFormatter
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
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
    parser = argparse.ArgumentParser(
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
        "-q", "--quiet", action="store_true", help="only errors: no notes, no progress bars"
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
    """The joblib backend the options ask for; nothing (and no joblib import) when none."""
    n_jobs, scheduler = getattr(args, "n_jobs", None), getattr(args, "scheduler", None)
    if n_jobs is None and scheduler is None:
        return contextlib.nullcontext()
    from eeg4students.parallel import backend

    return backend(n_jobs, scheduler)


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
    sys.exit(main())
