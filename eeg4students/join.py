"""``eeg4students join``: a student's own laptop recording in the teacher's classroom.

The student runs ``eeg4students join URL --board muse_2`` with the link from
the teacher's sheet (``http://HOST:PORT/student/P?token=KEY``). The laptop:

1. asks the teacher's classroom what to record (``GET /api/join/P``: the
   session, the protocol, the block length);
2. connects its own headset and records through a one-seat
   :class:`~eeg4students.classroom.Classroom` into a dataset on this
   computer (``--to``; crash-safe: the stream goes to disk as it arrives,
   and a cut-off recording found at the next ``join`` is recovered);
3. keeps a WebSocket to the teacher (``/ws/join/P``): a report every
   :data:`~eeg4students.joined.REPORT_SECONDS` (state, samples, quality
   per channel, place in the session), the teacher's buttons back;
4. when a recording is stored, packs the participant's recordings of this
   session (:func:`~eeg4students.remote.package_participant`) and posts the
   package to the teacher, who verifies and adds it as ``ingest`` does.

If the network drops, the recording goes on here and the cues still print
in the terminal; the laptop joins again when the network is back and sends
what is not yet sent (a package sent twice adds nothing the second time).
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

from eeg4students import _json as limited_json
from eeg4students._files import atomic_write_text, sha256
from eeg4students.boards import get_board
from eeg4students.errors import EEG4StudentsError, first_line
from eeg4students.joined import ACTIONS, REPORT_SECONDS
from eeg4students.lsl import is_lsl
from eeg4students.roster import Seat, is_join
from eeg4students.store import check_label

#: Seconds between two attempts to reach the teacher while the network is down.
RETRY_SECONDS = 1.0
#: Seconds an attempt to reach the teacher may take.
CONNECT_SECONDS = 5.0
#: Largest answer read from the teacher's server (bytes).
MAX_ANSWER_BYTES = 4 * 1024**2
#: Where in the local dataset the packages and protocol files wait.
OUTBOX = Path("sourcedata") / "eeg4students-join"


class JoinError(EEG4StudentsError):
    """A student's link or laptop that cannot join the teacher's classroom."""


@dataclass(frozen=True)
class Link:
    """A student's link from the teacher's sheet.

    Attributes
    ----------
    base : str
        ``http://host:port`` of the teacher's classroom.
    participant : str
        The student's label.
    token : str
        The student's key for this run of the classroom.
    """

    base: str
    participant: str
    token: str

    def url(self, path: str, scheme: str | None = None) -> str:
        """``base`` + ``path`` with the key (``scheme`` ``ws`` for a WebSocket)."""
        base = self.base if scheme is None else scheme + self.base[self.base.index(":") :]
        return f"{base}{path}?token={quote(self.token)}"


def parse_link(url: str) -> Link:
    """Read a student's link: ``http[s]://HOST:PORT/student/P?token=KEY``.

    Raises
    ------
    JoinError
        If the text is not such a link.
    """
    hint = (
        f"{url!r} is not a student's link from the teacher's sheet "
        "(http://HOST:PORT/student/LABEL?token=KEY); copy it again or scan its QR code."
    )
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise JoinError(hint) from None
    segments = parts.path.strip("/").split("/")
    token = parse_qs(parts.query).get("token", [""])[0]
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or len(segments) != 2
        or segments[0] != "student"
        or not token
        or len(token) > 256
    ):
        raise JoinError(hint)
    try:
        participant = check_label("participant", segments[1])
    except EEG4StudentsError:
        raise JoinError(hint) from None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    base = f"{parts.scheme}://{host}" + (f":{port}" if port else "")
    return Link(base, participant, token)


def link_from_file(path: str | Path, participant: str, wait: float) -> Link:
    """A student's link from a classroom's ``--links`` file, waiting ``wait`` s for the file.

    Raises
    ------
    JoinError
        If the file does not appear in time, is not a links file, or has no
        link for the participant.
    """
    path = Path(path)
    give_up, pause = time.monotonic() + wait, threading.Event()
    while not path.is_file():
        if time.monotonic() >= give_up:
            raise JoinError(
                f"{path}: no such links file after {wait:g} s; start the classroom with "
                "--links FILE first."
            )
        pause.wait(0.1)
    try:
        if path.stat().st_size > MAX_ANSWER_BYTES:
            raise JoinError(f"{path}: far larger than a classroom's links file.")
        links = limited_json.loads(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise JoinError(f"{path}: not a classroom's links file ({first_line(exc)}).") from None
    if not isinstance(links, dict) or not isinstance(links.get(participant), str):
        named = ", ".join(k for k in links if k != "teacher") if isinstance(links, dict) else ""
        raise JoinError(f"{path} has no link for {participant!r}; it has: {named or 'none'}.")
    return parse_link(links[participant])


# The teacher's computer is on the class's network: never through a proxy of the
# school's internet access.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class _Refused(JoinError):
    """The teacher's server answered with a refusal (4xx): trying again will not help."""


def _request(link: Link, path: str, body: Path | None = None, timeout: float = CONNECT_SECONDS):
    """GET (or POST a file to) the teacher's server; the answer's JSON.

    Raises
    ------
    _Refused
        On a 4xx answer, with the server's reason.
    OSError
        If the server cannot be reached (the network, or the classroom ended).
    """
    headers = {"Accept": "application/json"}
    data = None
    if body is not None:
        headers.update(
            {
                "Content-Type": "application/zip",
                "Content-Length": str(body.stat().st_size),
                "X-SHA256": sha256(body),
            }
        )
        data = body.open("rb")
    request = urllib.request.Request(link.url(path), data=data, headers=headers)
    try:
        with _DIRECT.open(request, timeout=timeout) as answer:
            return limited_json.loads(answer.read(MAX_ANSWER_BYTES))
    except urllib.error.HTTPError as exc:
        reason = f"HTTP {exc.code}"
        with contextlib.suppress(Exception):
            reason = str(limited_json.loads(exc.read(MAX_ANSWER_BYTES))["error"])[:500]
        if 400 <= exc.code < 500 and exc.code not in (408, 409, 429):
            raise _Refused(reason) from None
        raise OSError(reason) from None
    except (urllib.error.URLError, http.client.HTTPException, TimeoutError, ValueError) as exc:
        # A connection cut in the middle of an answer (HTTPException) is a network drop too.
        raise OSError(first_line(exc) or type(exc).__name__) from None
    finally:
        if data is not None:
            data.close()


def session_of(link: Link, wait: float, stop: threading.Event) -> dict:
    """Ask the teacher's classroom what to record, trying for ``wait`` seconds.

    Raises
    ------
    JoinError
        If the classroom refuses the link, or cannot be reached within ``wait`` s.
    """
    give_up = time.monotonic() + wait
    while True:
        try:
            info = _request(link, f"/api/join/{link.participant}")
        except _Refused as exc:
            raise JoinError(f"The teacher's classroom refused the link: {exc}") from None
        except OSError as exc:
            if time.monotonic() >= give_up or stop.is_set():
                raise JoinError(
                    f"Cannot reach the teacher's classroom at {link.base} ({exc}); check that "
                    "this laptop is on the class's network and the classroom is running."
                ) from None
            stop.wait(RETRY_SECONDS)
            continue
        if not (
            isinstance(info, dict)
            and info.get("participant") == link.participant
            and isinstance(info.get("session"), str)
            and isinstance(info.get("protocol"), dict)
        ):
            raise JoinError(f"{link.base} did not answer as an eeg4students classroom.")
        return info


def _protocol_source(info: dict, local: Path) -> str:
    """The protocol to record: a built-in name, or the teacher's file kept beside the data."""
    from eeg4students.protocol import BUILTIN

    protocol = info["protocol"]
    if protocol.get("builtin") in BUILTIN:
        return protocol["builtin"]
    text = protocol.get("yaml")
    if not isinstance(text, str):
        raise JoinError("The teacher's classroom sent no protocol this toolkit knows.")
    path = local / OUTBOX / f"protocol-{hashlib.sha256(text.encode()).hexdigest()[:12]}.yaml"
    if not path.is_file():
        atomic_write_text(path, text)
    return str(path)  # read and checked like any protocol file by the classroom


@dataclass
class _Sending:
    """What the teacher has acknowledged, and the package on its way."""

    acknowledged: frozenset = frozenset()
    refused: str | None = None
    next_try: float = 0.0
    #: The recordings the package on disk holds (it is packed again when they change).
    packed: tuple = ()


class Joiner:
    """One student's laptop in the teacher's classroom (see the module docstring).

    Parameters
    ----------
    link : Link
        From :func:`parse_link`.
    board : str
        This laptop's headset (``muse_2``, ``synthetic``...).
    connection : dict
        BrainFlow connection options (``mac_address``, ``serial_port``...).
    to : str | Path
        The dataset on this laptop that records (created if new).
    patience : float
        Seconds to keep trying to reach the teacher when nothing is
        recording (a recording under way always goes on).
    say : callable
        Where progress lines go (``print``).
    """

    def __init__(
        self,
        link: Link,
        board: str,
        connection: dict,
        to: str | Path,
        *,
        patience: float = 120.0,
        say: Callable[[str], None] = print,
    ) -> None:
        if is_join(board):
            raise JoinError(
                "--board names this laptop's headset (muse_2, synthetic...), not join."
            )
        if not is_lsl(board):
            get_board(board, master=connection.get("master_board"))  # names the known ones
        self.link, self.board, self.connection = link, board, dict(connection)
        self.local = Path(to)
        self.patience = patience
        self.say = say
        self.room = None
        self.sending = _Sending()
        self._socket = None
        #: Closes the WebSocket to the teacher (a new one for each link).
        self._link = contextlib.ExitStack()
        self._cue: tuple | None = None
        self._offline_since: float | None = None
        self._told_done = False
        self._hello: dict | None = None
        self._last_try = 0.0

    # -- set up --------------------------------------------------------------------

    def prepare(self, wait: float, stop: threading.Event) -> None:
        """Ask the teacher what to record, recover a cut-off recording, connect the headset."""
        from eeg4students.classroom import Classroom

        info = session_of(self.link, wait, stop)
        self.local.mkdir(parents=True, exist_ok=True)
        source = _protocol_source(info, self.local)
        self.session = info["session"]
        self._recover()
        self.room = Classroom(
            self.local,
            self.session,
            [Seat(self.link.participant, self.board, self.connection)],
            protocol=source,
            task_seconds=info.get("task_seconds"),
            timeout=float(info.get("stall_timeout") or 5.0),
        )
        self.headset = self.room.headsets[self.link.participant]
        self.say(
            f"Joined {self.link.base} as {self.link.participant}: session {self.session} of "
            f"{self.room.protocol.name}; recording into {self.local}."
        )
        self.room.connect()
        if self.headset.state == "failed":
            self.say(f"The headset did not connect: {self.headset.message}")
        else:
            self.say(f"Headset connected ({self.board}); waiting for the teacher to start.")

    def _recover(self) -> None:
        """Store recordings of this session that a crash cut off (their partial files)."""
        from eeg4students.acquire import PARTIAL_DIR, recover

        folder = self.local / PARTIAL_DIR
        for partial in sorted(
            folder.glob(f"sub-{self.link.participant}_ses-{self.session}_*.csv")
        ):
            try:
                ref = recover(partial, self.local)
            except EEG4StudentsError as exc:
                self.say(f"A cut-off recording could not be recovered ({exc}).")
                continue
            self.say(f"Recovered a cut-off recording: {ref.path.name}; it will be sent.")

    # -- the link ------------------------------------------------------------------

    def _connect(self, now: float) -> None:
        import inspect

        from websockets.sync.client import connect

        options = {"open_timeout": CONNECT_SECONDS, "close_timeout": 1, "max_size": 2**20}
        if "proxy" in inspect.signature(connect).parameters:  # websockets >= 15 reads proxies
            options["proxy"] = None
        try:
            url = self.link.url(f"/ws/join/{self.link.participant}", "ws")
            self._socket = self._link.enter_context(connect(url, **options))
            self._hello = None  # said on every new link
        except Exception as exc:  # any failure to reach the teacher: try again later
            self._drop(now, first_line(exc))
            return
        if self._offline_since is not None:
            self.say(f"Back in touch with the teacher after {now - self._offline_since:.0f} s.")
        self._offline_since = None

    def _drop(self, now: float, why: str) -> None:
        with contextlib.suppress(Exception):
            self._link.close()  # the WebSocket, if one is open
        self._socket = None
        if self._offline_since is None:
            self._offline_since = now
            state = self.headset.state
            going = " The recording goes on here." if state == "recording" else ""
            self.say(f"Lost touch with the teacher ({why}).{going} Trying again...")

    def hello(self) -> dict:
        """What this laptop records with: its board, channels and sampling rate."""
        spec = self.headset.spec  # an LSL stream's is known once it is found
        return {
            "type": "hello",
            "board": self.board,
            "channels": list(spec.eeg_names) if spec is not None else ["none"],
            "sfreq": float(spec.sfreq) if spec is not None else 1.0,
        }

    def report(self, now: float) -> dict:
        """The report this laptop sends (see :func:`eeg4students.joined.clean_report`).

        The fields of the headset's tile (:meth:`Headset.snapshot`), and what
        the teacher's classroom needs to follow the session and the summary.
        """
        headset = self.headset
        tile = headset.snapshot(now)
        shown = ("state", "samples", "dropped", "quality", "step_index", "loose", "rehearsal")
        return {
            "type": "report",
            **{key: tile[key] for key in shown},
            "message": tile["message"][:400],
            "saved": tile["saved"],
            "elapsed_s": max(0.0, now - headset.started) if headset.started else 0.0,
            "judged": headset.judged,
            "judged_bad": headset.judged_bad,
            "dropped_out": headset.dropped_out,
        }

    def _exchange(self, now: float) -> None:
        """Send a report; carry out the teacher's buttons that came."""
        if self._socket is None:
            return
        from websockets.exceptions import ConnectionClosed

        try:
            with self.room._lock:
                hello, report, told = self.hello(), self.report(now), self.done
            if hello != self._hello:  # a new link, or a headset connected again differently
                self._socket.send(json.dumps(hello))
                self._hello = hello
            self._socket.send(json.dumps(report))
            self._told_done = told
            while True:
                try:
                    text = self._socket.recv(timeout=0)
                except TimeoutError:
                    break
                self._command(limited_json.loads(text))
        except (ConnectionClosed, OSError, ValueError) as exc:
            self._drop(now, first_line(exc) or "connection closed")

    def _command(self, message: dict) -> None:
        if not isinstance(message, dict) or message.get("type") != "command":
            return
        action = message.get("action")
        if action not in ACTIONS:
            return
        participant = self.link.participant
        if action == "start":
            started = self.room.start(participant)
            self.say("The teacher started the session." if started else "Not ready to start.")
        elif action == "stop":
            self.say("The teacher stopped the session.")
            self.room.stop(participant)
        elif action == "check":
            self.room.check(participant)
        elif action == "restart":
            self.say("The teacher restarts the headset...")
            threading.Thread(target=self.room.restart, args=(participant,), daemon=True).start()
        else:
            with contextlib.suppress(EEG4StudentsError):
                self.room.rehearse_contact(participant, action == "loosen")

    # -- sending -------------------------------------------------------------------

    def recordings(self) -> list[str]:
        """This participant's recordings of the session stored here (``.vhdr`` paths)."""
        folder = self.local / f"sub-{self.link.participant}" / f"ses-{self.session}" / "eeg"
        return sorted(p.relative_to(self.local).as_posix() for p in folder.glob("*_eeg.vhdr"))

    @property
    def unsent(self) -> list[str]:
        """Recordings stored here that the teacher has not acknowledged."""
        return [r for r in self.recordings() if r not in self.sending.acknowledged]

    def _package(self) -> Path:
        """This session's recordings packed (again only when they changed since)."""
        from eeg4students.remote import package_participant

        package = self.local / OUTBOX / f"sub-{self.link.participant}_ses-{self.session}.zip"
        holds = tuple(self.recordings())
        if holds != self.sending.packed or not package.is_file():
            package_participant(
                self.local, self.link.participant, package, sessions=[self.session]
            )
            self.sending.packed = holds
        return package

    def send(self, now: float, timeout: float = 60.0) -> bool:
        """Pack this session's recordings and post them; True once the teacher has them all."""
        if not self.unsent:
            return True
        if self.sending.refused is not None or now < self.sending.next_try:
            return False
        package = self._package()
        try:
            answer = _request(
                self.link, f"/api/join/{self.link.participant}/package", package, timeout
            )
        except _Refused as exc:
            self.sending.refused = str(exc)
            self.say(
                f"The teacher's classroom refused the recording: {exc} It stays in "
                f"{package}; give that file to the teacher (`eeg4students ingest`)."
            )
            return False
        except OSError as exc:
            self.sending.next_try = now + RETRY_SECONDS
            if self._offline_since is None:
                self.say(f"Could not send the recording yet ({exc}); trying again...")
            return False
        received = answer.get("received") if isinstance(answer, dict) else None
        if isinstance(received, list):
            self.sending.acknowledged |= {str(r) for r in received}
        done = not self.unsent
        if done:
            package.unlink(missing_ok=True)
            self.say(f"The teacher has your recording(s): {', '.join(self.recordings())}.")
        return done

    # -- the loop ------------------------------------------------------------------

    def _tell_cue(self, now: float) -> None:
        """Print the student's cue when it changes (the page may be out of reach)."""
        with self.room._lock:
            cue = self.headset.cue(now)
        key = (cue["kind"], cue["title"], cue["task_number"])
        if key == self._cue or cue["kind"] == "wait":
            self._cue = key
            return
        self._cue = key
        place = f"task {cue['task_number']} of {cue['tasks']}: " if cue["kind"] == "task" else ""
        left = f" ({cue['left_s']:.0f} s)" if cue["left_s"] else ""
        self.say(f"{place}{cue['title']}{left} - {cue['text']}")

    def step(self, now: float) -> None:
        """One round: link, report, commands, cue, sending."""
        if self._socket is None and (
            self._offline_since is None or now - self._last_try >= RETRY_SECONDS
        ):
            self._last_try = now
            self._connect(now)
        self._exchange(now)
        self._tell_cue(now)
        # Not while it records; not while the network is down (it is tried when back).
        if self._socket is not None and self.headset.state not in ("recording", "saving"):
            self.send(now)

    def finished(self, now: float) -> bool:
        """Whether this laptop has nothing left to do.

        Its session is stored, sent and reported done; or nothing is recording
        and the teacher has been out of reach for ``patience`` seconds.
        """
        state = self.headset.state
        if self.done and self._told_done:
            return True
        if state in ("recording", "saving", "connecting") or self._offline_since is None:
            return False
        return now - self._offline_since >= self.patience

    def run(self, stop: threading.Event) -> None:
        """Record, report and send until finished or ``stop``; then call :meth:`close`."""
        ticking = threading.Thread(target=self.room.run, name="eeg4students-join", daemon=True)
        ticking.start()
        pause = threading.Event()
        while not stop.is_set():
            now = time.monotonic()
            self.step(now)
            if self.finished(now):
                return
            pause.wait(max(0.0, REPORT_SECONDS - (time.monotonic() - now)))

    @property
    def done(self) -> bool:
        """Whether the session was stored complete here and the teacher has every recording."""
        return self.headset.state == "saved" and not self.unsent

    def close(self, send_seconds: float = 10.0) -> None:
        """Store a recording under way (as interrupted), try once more to send, let go."""
        with self.room._lock:
            self.headset.stop("stopped on the student's laptop")
        self.room.shutdown()  # waits for the recording to be stored
        if self.unsent and self.sending.refused is None:
            self.sending.next_try = 0.0
            self.send(time.monotonic(), timeout=send_seconds)
        if self._socket is not None:
            with contextlib.suppress(Exception):
                self._socket.send(json.dumps(self.report(time.monotonic())))
        with contextlib.suppress(Exception):
            self._link.close()
        if self.unsent:
            package = self._package()
            self.say(
                f"Not sent to the teacher: {', '.join(self.unsent)}. Give the teacher {package} "
                "(`eeg4students ingest --merge`), or run this `eeg4students join` again while "
                "the same classroom runs."
            )
