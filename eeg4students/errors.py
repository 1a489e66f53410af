"""The toolkit's own exceptions.

Every error a user can cause (a bad file, an unknown headset, a wrong option,
a missing participant) is raised as a subclass of :class:`EEG4StudentsError`
with one sentence that names the thing and the fix. The command line prints
that sentence without a traceback and exits non-zero.
"""

from __future__ import annotations

from os import PathLike


class EEG4StudentsError(Exception):
    """Base class of every error a user of the toolkit can cause."""


class RecordingFormatError(EEG4StudentsError, ValueError):
    """A recording file cannot be read: wrong format, truncated, or bad values.

    Parameters
    ----------
    path : path-like
        The file that could not be read.
    problem : str
        What is wrong, as a sentence fragment (no trailing period).
    line : int | None
        1-based line number in the file where the problem is, if known.
    column : str | None
        The column name where the problem is, if known.
    """

    def __init__(
        self,
        path: str | PathLike[str],
        problem: str,
        *,
        line: int | None = None,
        column: str | None = None,
    ) -> None:
        self.path = str(path)
        self.problem = problem
        self.line = line
        self.column = column
        where = self.path
        if line is not None:
            where += f", line {line}"
        if column is not None:
            where += f", column {column!r}"
        end = "" if problem.endswith((".", "?", "!")) else "."
        super().__init__(f"{where}: {problem}{end}")


class RecordingNote(UserWarning):
    """Something about a recording that was read and is worth a look, but is no error.

    Readers issue it with :func:`warnings.warn` (a cut-off last line that was
    dropped, an unknown measurement date, implausible units, ignored
    columns). ``import`` prints each note and keeps it in the recording's
    sidecar, where ``dataset info`` shows it.

    Parameters
    ----------
    path : path-like
        The file the note is about.
    note : str
        What was noticed, as a sentence fragment (no trailing period).
    """

    def __init__(self, path: str | PathLike[str], note: str) -> None:
        self.path = str(path)
        self.note = note
        super().__init__(f"{self.path}: {note}")


class DatasetError(EEG4StudentsError):
    """A dataset folder is missing, is not a BIDS dataset, or lacks an entry."""


class LabelError(EEG4StudentsError, ValueError):
    """A participant, session, task or run label is not a valid BIDS label."""


class BoardError(EEG4StudentsError, ValueError):
    """An unknown headset name, or a headset that cannot be used as asked."""


class ProtocolError(EEG4StudentsError, ValueError):
    """A protocol file is missing, malformed, or inconsistent."""


class ModelError(EEG4StudentsError, ValueError):
    """A model that cannot be saved, found, loaded or applied (or is refused as unsafe)."""


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message, or its type name when it has none.

    Library errors can span many lines; the toolkit's messages are one sentence.
    """
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
