"""Protocol files: the tasks, their instructions and timing, and session orders.

A protocol is a YAML file (see ``protocols/eeg4students.yaml``)::

    name: EEG4Students
    task_seconds: 60          # length of every task block
    rest_seconds: 10          # pause between blocks
    lead_in_seconds: 5        # settling time before the first block
    transition_share: 0.3     # share of each block dropped at analysis
    tasks:
      - {name: Think, code: 1, instruction: "..."}
    sessions:
      "1": [Think, Count, Recall, Breathe, Draw]

:func:`load_protocol` checks every key and names the file, the key and the
problem when something is wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from eeg4students._numbers import within
from eeg4students.errors import ProtocolError
from eeg4students.names import TASK_SECONDS_RANGE

#: Longest a protocol's block, rest or lead-in may be (s).
MAX_SECONDS = 3600.0

#: Protocols that ship with the toolkit, by name.
BUILTIN = ("eeg4students", "quick")


@dataclass(frozen=True)
class Task:
    """One task of a protocol.

    Attributes
    ----------
    name : str
        Short name, letters and digits (``"Think"``).
    code : int
        Marker value inserted into the stream when the task starts (1..99).
    instruction : str
        What the participant reads on screen.
    """

    name: str
    code: int
    instruction: str


@dataclass(frozen=True)
class Step:
    """One part of a session's timeline.

    Attributes
    ----------
    label : str
        ``"get ready"``, a task's name, or ``"rest"``.
    start, end : float
        Seconds from the start of the session.
    task : Task | None
        The task done in this step; None for the lead-in and rests.
    """

    label: str
    start: float
    end: float
    task: Task | None = None


@dataclass(frozen=True)
class Protocol:
    """A recording protocol.

    Attributes
    ----------
    name : str
        The protocol's name.
    tasks : tuple of Task
        The tasks, in their canonical order.
    sessions : dict of str to tuple of str
        Task order (task names) of each session label.
    task_seconds, rest_seconds, lead_in_seconds : float
        Block, pause and lead-in lengths in seconds.
    transition_share : float
        Share (0..1) of each block dropped at analysis as transition.
    source : str
        The file it was read from.
    description : str
        What the protocol is for, in a sentence or two.
    """

    name: str
    tasks: tuple[Task, ...]
    sessions: dict[str, tuple[str, ...]]
    task_seconds: float
    rest_seconds: float
    lead_in_seconds: float
    transition_share: float
    source: str
    description: str = ""

    def bids_task_fields(self, session: str | int) -> dict[str, str]:
        """``TaskDescription`` and ``Instructions`` of a session for its BIDS sidecar.

        Parameters
        ----------
        session : str | int
            The session label (its task order).

        Returns
        -------
        fields : dict of str to str
            The protocol and the session's block timing, and each task's
            instruction to the participant in the order given.
        """
        order = self.order(session)
        description = (
            f"{self.name} protocol. {self.description} Session {session}: "
            f"{', '.join(order)}; each task {self.task_seconds:g} s, "
            f"{self.rest_seconds:g} s rest between tasks, marked in events.tsv."
        )
        instructions = " ".join(f"{name}: {self.task(name).instruction}" for name in order)
        return {"TaskDescription": " ".join(description.split()), "Instructions": instructions}

    @property
    def task_names(self) -> tuple[str, ...]:
        """Task names in canonical order."""
        return tuple(t.name for t in self.tasks)

    def task(self, name: str) -> Task:
        """Return the task called ``name``."""
        for task in self.tasks:
            if task.name == name:
                return task
        raise ProtocolError(f"Protocol {self.name!r} has no task {name!r}.")

    def order(self, session: str | int) -> tuple[str, ...]:
        """Return the task order of a session.

        Sessions beyond those listed cycle through the listed orders, so a
        seventh session of EEG4Students repeats the first one's order.
        """
        key = str(session)
        if key in self.sessions:
            return self.sessions[key]
        labels = list(self.sessions)
        if key.isdigit() and int(key) > 0:
            return self.sessions[labels[(int(key) - 1) % len(labels)]]
        raise ProtocolError(
            f"Protocol {self.name!r} has no session {key!r}; it has {', '.join(labels)}."
        )

    def schedule(self, session: str | int) -> tuple[Step, ...]:
        """Return a session's timeline: lead-in, then each task with rests between.

        Parameters
        ----------
        session : str | int
            The session label (its task order, :meth:`order`).

        Returns
        -------
        steps : tuple of Step
            Back to back, from 0 s to the end of the last task.
        """
        steps, t = [], 0.0
        if self.lead_in_seconds > 0:
            steps.append(Step("get ready", 0.0, self.lead_in_seconds))
            t = self.lead_in_seconds
        order = self.order(session)
        for i, name in enumerate(order):
            steps.append(Step(name, t, t + self.task_seconds, self.task(name)))
            t += self.task_seconds
            if i < len(order) - 1 and self.rest_seconds > 0:
                steps.append(Step("rest", t, t + self.rest_seconds))
                t += self.rest_seconds
        return tuple(steps)

    def with_timing(self, task_seconds: float | None = None) -> Protocol:
        """Return a copy with another block length (e.g. short demo sessions)."""
        if task_seconds is None:
            return self
        lo, hi = TASK_SECONDS_RANGE
        if not within(task_seconds, lo, hi):
            raise ProtocolError(
                f"The task length must be {lo:g} to {hi:g} seconds, not {task_seconds}."
            )
        values = {**self.__dict__, "task_seconds": float(task_seconds)}
        return Protocol(**values)


def _problem(source: str, key: str, problem: str) -> ProtocolError:
    return ProtocolError(f"{source}: {key}: {problem}.")


def _number(source: str, data: dict, key: str, *, lo: float, hi: float | None = None) -> float:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _problem(source, key, f"must be a number, not {value!r}")
    hi = MAX_SECONDS if hi is None else hi
    if not within(value, lo, hi):
        raise _problem(source, key, f"must be between {lo:g} and {hi:g}, not {value}")
    return float(value)


def parse_protocol(data: Any, source: str = "<protocol>") -> Protocol:
    """Check a protocol given as a mapping and build it.

    Parameters
    ----------
    data : dict
        The parsed YAML.
    source : str
        Where it came from, for messages.

    Returns
    -------
    protocol : Protocol

    Raises
    ------
    ProtocolError
        Naming the source, the key and the problem.
    """
    if not isinstance(data, dict):
        raise ProtocolError(f"{source}: the file must hold a mapping of keys, not a list or text.")
    for key in ("name", "tasks", "sessions", "task_seconds"):
        if key not in data:
            raise _problem(source, key, "is missing")
    task_seconds = _number(source, data, "task_seconds", lo=1e-3)
    rest = _number(source, {"rest_seconds": 0, **data}, "rest_seconds", lo=0)
    lead_in = _number(source, {"lead_in_seconds": 0, **data}, "lead_in_seconds", lo=0)
    share = _number(source, {"transition_share": 0.3, **data}, "transition_share", lo=0, hi=0.95)
    raw_tasks = data["tasks"]
    if not isinstance(raw_tasks, list) or not raw_tasks:
        raise _problem(source, "tasks", "must be a non-empty list")
    tasks, codes = [], set()
    for i, item in enumerate(raw_tasks):
        key = f"tasks[{i}]"
        if not isinstance(item, dict):
            raise _problem(source, key, "must be a mapping with name, code and instruction")
        name = str(item.get("name", "")).strip()
        if not name.isalnum():
            raise _problem(source, f"{key}.name", f"must be letters and digits, not {name!r}")
        if name in {t.name for t in tasks}:
            raise _problem(source, f"{key}.name", f"task {name!r} is listed twice")
        instruction = str(item.get("instruction") or "").strip()
        if not instruction:
            raise _problem(source, f"{key}.instruction", f"task {name!r} has no instruction")
        code = item.get("code", i + 1)
        if isinstance(code, bool) or not isinstance(code, int) or not 1 <= code <= 99:
            raise _problem(source, f"{key}.code", f"must be a whole number 1..99, not {code!r}")
        if code in codes:
            raise _problem(source, f"{key}.code", f"code {code} is used twice")
        codes.add(code)
        tasks.append(Task(name=name, code=code, instruction=instruction))
    names = {t.name for t in tasks}
    raw_sessions = data["sessions"]
    if not isinstance(raw_sessions, dict) or not raw_sessions:
        raise _problem(source, "sessions", "must map session labels to task orders")
    sessions = {}
    for label, order in raw_sessions.items():
        key = f"sessions.{label}"
        if not str(label).isalnum():
            raise _problem(source, key, "session labels must be letters and digits")
        if not isinstance(order, list) or not order:
            raise _problem(source, key, "must be a non-empty list of task names")
        unknown = [str(t) for t in order if str(t) not in names]
        if unknown:
            raise _problem(
                source, key, f"unknown task {unknown[0]!r} (the tasks are {', '.join(names)})"
            )
        sessions[str(label)] = tuple(str(t) for t in order)
    return Protocol(
        name=str(data["name"]),
        tasks=tuple(tasks),
        sessions=sessions,
        task_seconds=task_seconds,
        rest_seconds=rest,
        lead_in_seconds=lead_in,
        transition_share=share,
        source=source,
        description=str(data.get("description") or "").strip(),
    )


def load_protocol(path: str | Path | None = None) -> Protocol:
    """Read and check a protocol file.

    Parameters
    ----------
    path : str | Path | None
        A YAML protocol file, or the name of a built-in protocol
        (``"eeg4students"``, ``"quick"``: 5-second blocks for trials); None
        loads the EEG4Students protocol.

    Returns
    -------
    protocol : Protocol

    Raises
    ------
    ProtocolError
        If the file is missing, is not YAML, or breaks a rule; the message
        names the file, the key and the problem.
    """
    name = "eeg4students" if path is None else str(path)
    if name in BUILTIN and not Path(name).is_file():
        ref = resources.files("eeg4students") / "protocols" / f"{name}.yaml"
        return parse_protocol(yaml.safe_load(ref.read_text(encoding="utf-8")), f"{name}.yaml")
    path = Path(path)
    if not path.is_file():
        raise ProtocolError(
            f"{path}: no such protocol file; give a file, or one of the built-in protocols: "
            f"{', '.join(BUILTIN)}."
        )
    if path.stat().st_size > MAX_PROTOCOL_BYTES:
        raise ProtocolError(f"{path}: far larger than a protocol file; give the right file.")
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_PlainLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f", line {mark.line + 1}" if mark is not None else ""
        raise ProtocolError(f"{path}{where}: not valid YAML ({exc.__class__.__name__}).") from exc
    except UnicodeDecodeError as exc:
        raise ProtocolError(f"{path}: not a text file (not UTF-8).") from exc
    except RecursionError as exc:
        raise ProtocolError(f"{path}: nested too deeply to be a protocol file.") from exc
    return parse_protocol(data, str(path))


#: Largest protocol file read (bytes).
MAX_PROTOCOL_BYTES = 1024 * 1024
#: Deepest nesting of a protocol file (its sessions' task lists are at depth 3).
MAX_PROTOCOL_DEPTH = 16


class _PlainLoader(yaml.SafeLoader):
    """YAML's safe loader without anchors and aliases, and with a nesting limit.

    A protocol never needs aliases; refusing them rules out a "billion laughs"
    file that expands a few lines into gigabytes.
    """

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None, None, "aliases (*name) are not allowed in a protocol", event.start_mark
            )
        self._depth = getattr(self, "_depth", 0) + 1
        try:
            if self._depth > MAX_PROTOCOL_DEPTH:
                raise yaml.composer.ComposerError(
                    None, None, "nested too deeply for a protocol", self.peek_event().start_mark
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1
