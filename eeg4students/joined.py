"""A headset on a student's own laptop, as the teacher's classroom sees it.

A roster seat whose board is ``join`` (``--headset s01,join``) is recorded
by ``eeg4students join`` on the student's computer (:mod:`eeg4students.join`):
that process connects the headset, records through the same recorder as a
classroom (crash-safe, ``recover``-able), and talks to the teacher's server:

- over the WebSocket ``/ws/join/P`` it sends ``hello`` (board, channels,
  sampling rate) and then a ``report`` every :data:`REPORT_SECONDS` (state,
  samples, quality per channel, where it is in the session), and receives
  the teacher's buttons as ``command`` messages (start, stop, check,
  restart, loosen, fix);
- at the end it posts its recording as a package to ``/api/join/P/package``,
  which :func:`eeg4students.remote.ingest` verifies and adds (checksums,
  staging, atomic commit).

:class:`JoinedHeadset` mirrors the last report so that the teacher's tile,
the count, the summary and the student's cue page work as for a headset on
the teacher's computer. Reports come from a computer the teacher does not
control: :func:`clean_hello` and :func:`clean_report` keep only known fields
of the right types and sizes, and refuse the rest.
"""

from __future__ import annotations

import math
import re
import time
from pathlib import Path

from eeg4students.boards import Board
from eeg4students.classroom import RESTARTABLE, STATES, Headset
from eeg4students.errors import EEG4StudentsError
from eeg4students.quality import VERDICTS
from eeg4students.roster import RosterError, Seat
from eeg4students.store import RECORDING_STEM

#: Seconds between two reports from a student's laptop.
REPORT_SECONDS = 0.25
#: Seconds without a report after which the laptop counts as offline.
OFFLINE_SECONDS = 3.0
#: Buttons the teacher's page sends to a student's laptop.
ACTIONS = ("start", "stop", "check", "restart", "loosen", "fix")
_MAX_CHANNELS = 64
_MAX_TEXT = 400
_SAVED = re.compile(rf"sub-[A-Za-z0-9]+/ses-[A-Za-z0-9]+/eeg/{RECORDING_STEM}_eeg\.vhdr")


class ReportError(EEG4StudentsError):
    """A message from a student's laptop that is not one ``eeg4students join`` sends."""


def _text(value, what: str, limit: int = _MAX_TEXT) -> str:
    if not isinstance(value, str) or len(value) > limit:
        raise ReportError(f"{what} is not text of at most {limit} characters.")
    return "".join(c if c.isprintable() else " " for c in value)


def _name(value, what: str) -> str:
    """A channel's or board's name: 1-40 printable characters (LSL streams name them freely)."""
    if not isinstance(value, str) or not 0 < len(value) <= 40 or not value.isprintable():
        raise ReportError(f"{what} is not a channel or board name.")
    return value


def _number(value, what: str, lo: float, hi: float, kind=float):
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ReportError(f"{what} is not a number.")
    if not (math.isfinite(value) and lo <= value <= hi):
        raise ReportError(f"{what} is out of range ({lo:g} to {hi:g}).")
    return kind(value)


def clean_hello(message: dict) -> dict:
    """Check a laptop's ``hello``: ``board`` (name), ``channels`` (names), ``sfreq`` (Hz).

    Raises
    ------
    ReportError
        If a field is missing, of the wrong type, too long or out of range.
    """
    if not isinstance(message, dict):
        raise ReportError("the hello is not an object.")
    channels = message.get("channels")
    if not isinstance(channels, list) or not 0 < len(channels) <= _MAX_CHANNELS:
        raise ReportError(f"the hello's channels are not a list of 1 to {_MAX_CHANNELS} names.")
    names = [_name(c, "a channel") for c in channels]
    if len(set(names)) != len(names):
        raise ReportError("the hello names a channel twice.")
    return {
        "board": _name(message.get("board"), "the board"),
        "channels": names,
        "sfreq": _number(message.get("sfreq"), "the sampling rate", 1.0, 100_000.0),
    }


def clean_report(message: dict, channels: list[str], steps: int) -> dict:
    """Check a laptop's ``report`` against its hello's channels and the session's steps.

    Fields: ``state`` (one of :data:`eeg4students.classroom.STATES`),
    ``message`` (text), ``samples`` and ``dropped`` (counts), ``quality``
    (rows of ``channel``, ``ptp_uv`` in µV, ``line_ratio``, ``verdict``),
    ``step_index`` (-1 before the first step), ``elapsed_s`` (seconds since
    its *Start*), ``judged`` and ``judged_bad`` (channel checks while
    recording), ``dropped_out``,
    ``rehearsal`` (a synthetic headset), ``loose`` (channels a rehearsal
    loosened) and ``saved`` (the stored recording's path in the BIDS layout,
    or None).

    Raises
    ------
    ReportError
        If a field is missing, of the wrong type, too long or out of range.
    """
    if not isinstance(message, dict):
        raise ReportError("the report is not an object.")
    state = message.get("state")
    if state not in STATES:
        raise ReportError(f"the state {str(state)[:40]!r} is not one a recorder reports.")
    rows = message.get("quality")
    if not isinstance(rows, list) or len(rows) > len(channels):
        raise ReportError("the quality table is not a list of the hello's channels.")
    quality = []
    for row in rows:
        if not isinstance(row, dict) or row.get("channel") not in channels:
            raise ReportError("a quality row names a channel the hello did not.")
        if row.get("verdict") not in VERDICTS:
            raise ReportError("a quality row's verdict is not one the signal check gives.")
        quality.append(
            {
                "channel": row["channel"],
                "ptp_uv": _number(row.get("ptp_uv"), "a peak-to-peak value", 0, 1e9),
                "line_ratio": _number(row.get("line_ratio"), "a line-noise ratio", 0, 1e9),
                "verdict": row["verdict"],
            }
        )
    loose = message.get("loose")
    if not isinstance(loose, list) or any(c not in channels for c in loose):
        raise ReportError("the loose contacts are not the hello's channels.")
    saved = message.get("saved")
    if saved is not None and not (isinstance(saved, str) and _SAVED.fullmatch(saved)):
        raise ReportError("the saved recording is not a path of a BIDS recording.")
    out = {
        "state": state,
        "message": _text(message.get("message"), "the message"),
        "samples": _number(message.get("samples"), "the sample count", 0, 1e12, int),
        "dropped": _number(message.get("dropped"), "the dropped count", 0, 1e12, int),
        "quality": quality,
        "step_index": _number(message.get("step_index"), "the step", -1, steps - 1, int),
        "elapsed_s": _number(message.get("elapsed_s"), "the elapsed time", 0, 1e6),
        "judged": _number(message.get("judged"), "the checks", 0, 1e12, int),
        "judged_bad": _number(message.get("judged_bad"), "the bad checks", 0, 1e12, int),
        "loose": sorted(set(loose)),
        "saved": saved,
    }
    for key in ("dropped_out", "rehearsal"):
        if not isinstance(message.get(key), bool):
            raise ReportError(f"{key} is not true or false.")
        out[key] = message[key]
    if out["judged_bad"] > out["judged"]:
        raise ReportError("more bad checks than checks.")
    return out


class JoinedHeadset(Headset):
    """A seat recorded by ``eeg4students join`` on a student's laptop (see the module).

    Its state is ``waiting`` until the laptop joins, then the state its
    recorder reports, except that a recording stored on the laptop stays
    ``saving`` until its package reached the teacher's dataset. The page's
    status is ``offline`` while the laptop has sent nothing for
    :data:`OFFLINE_SECONDS` (it keeps recording and sends when back).
    """

    def __init__(self, seat: Seat, room) -> None:
        super().__init__(seat, room)
        self.model = None  # the laptop records; predictions are made where a headset is
        self.state, self.message = "waiting", "waiting for the student's laptop to join"
        self.hello: dict | None = None
        self.report: dict | None = None
        self.heard = 0.0
        #: Recordings of this participant the teacher's dataset has from the laptop.
        self.received: set[str] = set()
        self.commands: list[dict] = []
        #: Which link is current: a laptop that joins again replaces the old link.
        self.link = 0
        self.uploading = False

    @staticmethod
    def _spec_of(seat: Seat) -> Board | None:
        return None  # the laptop says which headset it has when it joins

    # -- from the laptop -----------------------------------------------------------

    def joined(self, hello: dict, now: float) -> int:
        """A laptop joined (or joined again); returns the new link's number."""
        self.hello, self.heard = hello, now
        self.link += 1
        if self.state == "waiting":
            self.state, self.message = "connecting", "joined; connecting its headset"
        return self.link

    def update(self, report: dict, now: float) -> None:
        """Mirror a (cleaned) report."""
        self.report, self.heard = report, now
        self.started = now - report["elapsed_s"]
        self._mirror()

    def stored(self, names: list[str]) -> None:
        """The teacher's dataset has these recordings (the ``.vhdr`` paths) from the laptop."""
        self.received |= set(names)
        self._mirror()

    def _mirror(self) -> None:
        report = self.report
        if report is None:
            return
        self.step = report["step_index"]
        self.quality, self.quality_time = report["quality"], self.heard
        self.judged, self.judged_bad = report["judged"], report["judged_bad"]
        self.dropped_out = report["dropped_out"]
        self._counts = (report["samples"], report["dropped"])
        state, message, saved = report["state"], report["message"], report["saved"]
        if state in ("saved", "interrupted") and saved is not None and saved not in self.received:
            state, message = "saving", f"{message}; sending the recording to the teacher"
        self.state, self.message = state, message
        self.saved_path = saved if saved in self.received else None

    def online(self, now: float) -> bool:
        """Whether the laptop reported within :data:`OFFLINE_SECONDS`."""
        return self.hello is not None and now - self.heard <= OFFLINE_SECONDS

    def take_commands(self) -> list[dict]:
        """The teacher's buttons not yet sent to the laptop (and forget them)."""
        commands, self.commands = self.commands, []
        return commands

    def _send(self, action: str, **extra) -> None:
        self.commands.append({"type": "command", "action": action, **extra})

    # -- the teacher's buttons -----------------------------------------------------

    def connect(self) -> None:
        """Nothing to connect here: the laptop connects its own headset when it joins."""

    def start(self, now: float) -> bool:
        if self.state != "connected" or not self.online(now):
            return False
        self._send("start")
        self.started, self.step, self.state, self.message = now, -1, "recording", ""
        return True

    def stop(self, reason: str = "stopped by the teacher") -> None:
        if self.state in ("connected", "recording"):
            self._send("stop", reason=reason)

    def reset(self) -> bool:
        if self.state not in RESTARTABLE or not self.online(time.monotonic()):
            return False
        self._send("restart")
        self.state, self.message, self.report = "connecting", "connecting again", None
        self.quality, self.saved_path, self._counts = [], None, (0, 0)
        return True

    def check(self, now: float) -> None:
        if self.state in ("connected", "recording"):
            self._send("check")

    def rehearse_contact(self, loose: bool) -> list[str]:
        if not (self.report and self.report["rehearsal"]):
            raise RosterError(
                f"{self.seat.participant}'s headset is a real one (or has not joined): only "
                "synthetic headsets rehearse a loose contact."
            )
        self._send("loosen" if loose else "fix")
        return self.loose_channels()

    def tick(self, now: float) -> None:
        """Nothing streams here; the page shows ``offline`` when reports stop."""

    # -- what the pages show -------------------------------------------------------

    def status(self) -> tuple[str, list[str]]:
        if self.hello is None:
            return "waiting", []
        if not self.online(time.monotonic()) and self.state in (
            "connected",
            "recording",
            "saving",
        ):
            return "offline", []
        return super().status()

    def loose_channels(self) -> list[str]:
        return list(self.report["loose"]) if self.report else []

    @property
    def sample_rate(self) -> float | None:
        return self.hello["sfreq"] if self.hello else None

    def cue(self, now: float) -> dict:
        """The student's cue, as for a headset here; ``recorder`` says it is their laptop."""
        return {**super().cue(now), "recorder": "laptop"}

    def snapshot(self, now: float) -> dict:
        out = super().snapshot(now)
        out["board"] = f"join: {self.hello['board']}" if self.hello else "join"
        out["rehearsal"] = bool(self.report and self.report["rehearsal"])
        out["restartable"] = self.state in RESTARTABLE and self.online(now)
        out["laptop"] = {
            "online": self.online(now),
            "heard_s": round(now - self.heard, 1) if self.hello else None,
        }
        if out["status"] == "offline":
            out["message"] = (
                f"no news from the student's laptop for {now - self.heard:.0f} s; it keeps "
                "recording and sends when back"
            )
        return out


def session_info(room, participant: str) -> dict:
    """What a laptop joining as ``participant`` needs to record the classroom's session.

    Returns
    -------
    info : dict
        ``participant``, ``session``, ``protocol`` (``{"builtin": name}`` or
        ``{"yaml": text}`` for a protocol file), ``task_seconds`` (None: the
        protocol's), ``stall_timeout`` (s) and ``report_seconds``.
    """
    from eeg4students.protocol import BUILTIN

    source = room.protocol_source
    if source is None or (str(source) in BUILTIN and not Path(str(source)).is_file()):
        protocol = {"builtin": str(source or "eeg4students")}
    else:
        protocol = {"yaml": Path(source).read_text(encoding="utf-8")}
    return {
        "participant": participant,
        "session": room.session,
        "protocol": protocol,
        "task_seconds": room.task_seconds,
        "stall_timeout": room.timeout,
        "report_seconds": REPORT_SECONDS,
    }


def receive_package(room, participant: str, package: Path) -> dict:
    """Verify a laptop's package and add its recordings to the classroom's dataset.

    Through :func:`eeg4students.remote.ingest` (checksums, staging, atomic
    commit), refusing any other participant or session; recordings the
    dataset has already (a package sent again) are left alone.

    Returns
    -------
    result : dict
        ``stored``: the files added; ``received``: every recording of the
        package (``.vhdr`` paths), now in the dataset.

    Raises
    ------
    PackageError
        If the package is refused (the dataset is then unchanged).
    """
    import zipfile

    from eeg4students.remote import ingest

    _, added = ingest(
        package, room.dataset.root, add_runs=True, participant=participant, sessions=[room.session]
    )
    with zipfile.ZipFile(package) as archive:  # verified by ingest; our own temporary file
        names = sorted(n for n in archive.namelist() if n.endswith("_eeg.vhdr"))
    with room._lock:
        room.headset(participant).stored(names)
    return {"stored": added, "received": names}
