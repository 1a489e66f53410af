"""The classroom's web pages: one for the teacher, one per student (Starlette).

- ``/?token=T`` the teacher's page: a tile per headset, updated through the
  WebSocket ``/ws?token=T`` every :data:`UPDATE_SECONDS`; its buttons post to
  ``/api/{start,stop,check,restart,loosen,fix}?token=T[&participant=P]``
  (restart: one stopped, dropped or failed headset, connected again; loosen
  and fix: a synthetic headset's simulated contact, for rehearsals).
- ``/student/P?token=S`` a participant's cue page (instruction, countdown,
  what comes next), updated through ``/ws/student/P?token=S``.
- for a seat recorded on the student's own laptop (board ``join``;
  :mod:`eeg4students.joined`), with the student's token: ``GET
  /api/join/P`` (the session to record), the WebSocket ``/ws/join/P``
  (reports in, the teacher's buttons out) and ``POST /api/join/P/package``
  (the recording, verified and added as ``ingest`` does; at most
  :data:`MAX_UPLOAD_BYTES`).

Every URL and WebSocket needs a token: the teacher's (random for each
classroom) opens everything; a student's (derived from the teacher's with
HMAC) opens only that student's cue, which holds no EEG and no other
participant's name. Pages are sent with ``Referrer-Policy: no-referrer`` so
tokens do not leak to other sites, and ``Cache-Control: no-store``.

The teacher's page, opened with its key, sets it as a cookie (``HttpOnly``,
``SameSite=Strict``, for this browser session, named after a hash of the
key so two classrooms on one computer do not mix) and takes the key out of
the address bar: a projected screen no longer shows it, and the page's
requests and feed carry the cookie (a reload works; another site's request
never carries it).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import ipaddress
import secrets
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from importlib import resources
from urllib.parse import urlsplit

import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from eeg4students import _json as limited_json
from eeg4students.classroom import Classroom
from eeg4students.errors import EEG4StudentsError, first_line
from eeg4students.joined import (
    JoinedHeadset,
    ReportError,
    clean_hello,
    clean_report,
    receive_package,
    session_info,
)
from eeg4students.roster import RosterError

#: Seconds between two updates pushed to a page.
UPDATE_SECONDS = 0.25
_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}


class Keys:
    """The classroom's tokens: the teacher's and one per student derived from it."""

    def __init__(self, teacher: str | None = None) -> None:
        self.teacher = teacher or secrets.token_urlsafe(18)

    def student(self, participant: str) -> str:
        """The token of a participant's cue page."""
        digest = hmac.new(self.teacher.encode(), participant.encode(), hashlib.sha256)
        return digest.hexdigest()[:24]

    def is_teacher(self, token: str | None) -> bool:
        """Whether ``token`` is the teacher's (compared as bytes, in constant time)."""
        return _same(token, self.teacher)

    @property
    def cookie(self) -> str:
        """Name of the cookie holding the teacher's key (unique to this key)."""
        return "eeg4students_" + hashlib.sha256(self.teacher.encode()).hexdigest()[:12]

    def teacher_of(self, request) -> bool:
        """Whether a request (or WebSocket) carries the teacher's key, in its query or cookie."""
        return self.is_teacher(request.query_params.get("token")) or self.is_teacher(
            request.cookies.get(self.cookie)
        )

    def is_student(self, token: str | None, participant: str) -> bool:
        """Whether ``token`` opens ``participant``'s cue (theirs, or the teacher's)."""
        return _same(token, self.student(participant)) or self.is_teacher(token)


def _same(given: str | None, key: str) -> bool:
    """Compare a key from a request with one of ours: any text, never an exception.

    ``hmac.compare_digest`` refuses text that is not ASCII (a ``?token=%C3%A9``
    would end in a 500), so both sides are compared as UTF-8 bytes.
    """
    if not isinstance(given, str) or len(given) > 256:
        return False
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), key.encode("utf-8"))


def urls(base: str, room: Classroom, keys: Keys) -> dict[str, str]:
    """The teacher's URL and each student's, under ``base`` (``http://host:port``)."""
    out = {"teacher": f"{base}/?token={keys.teacher}"}
    for participant in room.headsets:
        out[participant] = f"{base}/student/{participant}?token={keys.student(participant)}"
    return out


def _page(name: str) -> HTMLResponse:
    text = (resources.files("eeg4students") / "pages" / name).read_text(encoding="utf-8")
    return HTMLResponse(text, headers=_HEADERS)


def _refused() -> Response:
    return PlainTextResponse(
        "This page needs the token printed by `eeg4students classroom`.",
        status_code=403,
        headers=_HEADERS,
    )


#: Open WebSockets one key may hold at once (a teacher's page in a few tabs).
MAX_SOCKETS_PER_KEY = 4
#: Largest package a student's laptop may send (bytes): hours of 16-channel EEG.
MAX_UPLOAD_BYTES = 1024**3
#: Largest message a page or laptop may send on a WebSocket (bytes).
MAX_MESSAGE_BYTES = 256 * 1024


def served_hosts(sock: socket.socket) -> list[str]:
    """The host names a request to this server may carry in its ``Host`` header.

    Loopback names when it listens on loopback; this computer's address on the
    network and its host names when it listens on all addresses. Any other
    ``Host`` (a DNS-rebinding page on ``evil.example`` that resolves to this
    computer) is refused.
    """
    host = sock.getsockname()[0]
    names = {"127.0.0.1", "localhost", "::1", "[::1]"}
    address = ipaddress.ip_address(host)
    if address.is_unspecified:
        name = socket.gethostname()
        names |= {_lan_address(), name, f"{name}.local", socket.getfqdn()}
    elif not address.is_loopback:
        names = {host}
    return sorted(n.lower() for n in names if n)


def _origin_ok(origin: str | None, hosts: list[str]) -> bool:
    """A WebSocket's ``Origin``: absent (not a browser) or one of this server's pages."""
    if origin is None:
        return True
    try:
        parsed = urlsplit(origin)
        return parsed.scheme in ("http", "https") and (parsed.hostname or "") in hosts
    except ValueError:
        return False


def make_app(
    room: Classroom, keys: Keys, hosts: list[str] | None = None, base: str | None = None
) -> Starlette:
    """The web application serving a classroom.

    Parameters
    ----------
    room : Classroom
        The running classroom.
    keys : Keys
        Its tokens.
    hosts : list of str | None
        The names a request's ``Host`` (and a WebSocket's ``Origin``) may give
        (:func:`served_hosts`); None allows loopback names only.
    base : str | None
        ``http://host:port`` the students' links on the printable sheet use
        (:func:`base_url`: this computer's network address when serving the
        network); None takes the address the teacher's request came to.

    Returns
    -------
    app : starlette.applications.Starlette
    """
    hosts = hosts or ["127.0.0.1", "::1", "[::1]", "localhost"]
    sockets: Counter[str] = Counter()

    @contextlib.asynccontextmanager
    async def admitted(websocket: WebSocket, token: str):
        """Accept a feed unless its origin is foreign or its key holds too many already."""
        if not _origin_ok(websocket.headers.get("origin"), hosts) or (
            sockets[token] >= MAX_SOCKETS_PER_KEY
        ):
            await websocket.close(code=1008)
            yield False
            return
        sockets[token] += 1
        try:
            await websocket.accept()
            yield True
        finally:
            sockets[token] -= 1

    async def teacher(request: Request) -> Response:
        if not keys.teacher_of(request):
            return _refused()
        page = _page("teacher.html")
        page.set_cookie(keys.cookie, keys.teacher, httponly=True, samesite="strict", path="/")
        return page

    async def sheet(request: Request) -> Response:
        if not keys.teacher_of(request):
            return _refused()
        where = base or str(request.base_url).rstrip("/")
        html = await asyncio.to_thread(student_sheet, room, keys, where)
        return HTMLResponse(html, headers=_HEADERS)

    async def summary_csv(request: Request) -> Response:
        if not keys.teacher_of(request):
            return _refused()
        rows = await asyncio.to_thread(room.summary)
        name = f"classroom-session-{room.session}-summary.csv"
        return Response(
            _csv(rows),
            media_type="text/csv; charset=utf-8",
            headers={**_HEADERS, "Content-Disposition": f'attachment; filename="{name}"'},
        )

    async def student(request: Request) -> Response:
        participant = request.path_params["participant"]
        if participant not in room.headsets or not keys.is_student(
            request.query_params.get("token"), participant
        ):
            return _refused()
        return _page("student.html")

    async def action(request: Request) -> Response:
        if not keys.teacher_of(request):
            return _refused()
        participant = request.query_params.get("participant") or None
        name = request.path_params["action"]
        try:
            if name == "start":
                done = await asyncio.to_thread(room.start, participant)
                return JSONResponse({"started": done}, headers=_HEADERS)
            if name == "stop":
                await asyncio.to_thread(room.stop, participant)
            elif name == "check":
                await asyncio.to_thread(room.check, participant)
            elif name in ("loosen", "fix") and participant:
                loose = await asyncio.to_thread(
                    room.rehearse_contact, participant, name == "loosen"
                )
                return JSONResponse({"loose": loose}, headers=_HEADERS)
            elif name == "restart" and participant:
                done = await asyncio.to_thread(room.restart, participant)
                return JSONResponse({"connected": done}, headers=_HEADERS)
            else:
                return JSONResponse({"error": f"no action {name!r}"}, 404, headers=_HEADERS)
        except RosterError as exc:
            return JSONResponse({"error": str(exc)}, 404, headers=_HEADERS)
        return JSONResponse({"ok": True}, headers=_HEADERS)

    async def teacher_feed(websocket: WebSocket) -> None:
        if not keys.teacher_of(websocket):
            await websocket.close(code=1008)
            return
        async with admitted(websocket, keys.teacher) as ok:
            if ok:
                links = {p: f"/student/{p}?token={keys.student(p)}" for p in room.headsets}
                await _feed(websocket, lambda: {**room.snapshot(), "links": links})

    async def student_feed(websocket: WebSocket) -> None:
        participant = websocket.path_params["participant"]
        token = websocket.query_params.get("token")
        if participant not in room.headsets or not keys.is_student(token, participant):
            await websocket.close(code=1008)
            return
        async with admitted(websocket, token) as ok:
            if ok:
                await _feed(websocket, lambda: room.cue(participant))

    def joined_seat(request) -> JoinedHeadset | None:
        """The joined seat a request's path names, if the student's key opens it."""
        participant = request.path_params["participant"]
        seat = room.headsets.get(participant)
        token = request.query_params.get("token")
        if not isinstance(seat, JoinedHeadset) or not keys.is_student(token, participant):
            return None
        return seat

    async def join_info(request: Request) -> Response:
        seat = joined_seat(request)
        if seat is None:
            return _refused_join(request, keys)
        info = await asyncio.to_thread(session_info, room, seat.seat.participant)
        return JSONResponse(info, headers=_HEADERS)

    async def join_package(request: Request) -> Response:
        seat = joined_seat(request)
        if seat is None:
            return _refused_join(request, keys)
        return await _receive(request, room, seat)

    async def join_feed(websocket: WebSocket) -> None:
        seat = joined_seat(websocket)
        if seat is None:
            await websocket.close(code=1008)
            return
        async with admitted(websocket, "join:" + seat.seat.participant) as ok:
            if ok:
                await _join_link(websocket, room, seat)

    app = Starlette(
        routes=[
            Route("/", teacher),
            Route("/sheet", sheet),
            Route("/summary.csv", summary_csv),
            Route("/student/{participant}", student),
            Route("/api/join/{participant}", join_info),
            Route("/api/join/{participant}/package", join_package, methods=["POST"]),
            Route("/api/{action}", action, methods=["POST"]),
            WebSocketRoute("/ws", teacher_feed),
            WebSocketRoute("/ws/student/{participant}", student_feed),
            WebSocketRoute("/ws/join/{participant}", join_feed),
        ],
        # Only names this server answers to (against DNS rebinding).
        middleware=[Middleware(TrustedHostMiddleware, allowed_hosts=hosts, www_redirect=False)],
    )
    # No redirect to the same path with or without a slash: such a redirect is built
    # from the request's Host and keeps its query, the key with it.
    app.router.redirect_slashes = False
    return app


def _refused_join(request: Request, keys: Keys) -> Response:
    """403 without the participant's key (which labels exist is not told), else 404."""
    participant = request.path_params["participant"]
    if keys.is_student(request.query_params.get("token"), participant):
        return JSONResponse(
            {
                "error": f"This classroom has no seat {participant!r} for a student's laptop "
                "(the teacher's roster must give it the board join)."
            },
            404,
            headers=_HEADERS,
        )
    return JSONResponse(
        {
            "error": "The link's key is not this classroom's (keys change every run): take "
            "the link from today's sheet."
        },
        403,
        headers=_HEADERS,
    )


async def _receive(request: Request, room: Classroom, seat: JoinedHeadset) -> Response:
    """Take a laptop's package onto the dataset's disk, then verify and add it."""
    try:
        declared = int(request.headers.get("content-length", "0"))
    except ValueError:
        declared = -1
    if not 0 < declared <= MAX_UPLOAD_BYTES:
        return JSONResponse(
            {"error": f"A package is 1 to {MAX_UPLOAD_BYTES} bytes with its length given."},
            413,
            headers=_HEADERS,
        )
    if seat.uploading:
        return JSONResponse(
            {"error": "A package from this laptop is being received; send again later."},
            409,
            headers=_HEADERS,
        )
    seat.uploading = True
    path = room.dataset.root / f".join-{secrets.token_hex(8)}.zip"
    try:
        digest, size = hashlib.sha256(), 0
        with open(path, "wb") as out:
            async for chunk in request.stream():
                size += len(chunk)
                if size > declared:
                    break
                digest.update(chunk)
                await asyncio.to_thread(out.write, chunk)
        if size != declared or digest.hexdigest() != request.headers.get("x-sha256"):
            return JSONResponse(
                {"error": "The package arrived damaged or cut short; send it again."},
                400,
                headers=_HEADERS,
            )
        try:
            result = await asyncio.to_thread(receive_package, room, seat.seat.participant, path)
        except EEG4StudentsError as exc:
            return JSONResponse({"error": str(exc)}, 422, headers=_HEADERS)
        return JSONResponse(result, headers=_HEADERS)
    finally:
        path.unlink(missing_ok=True)
        seat.uploading = False


async def _join_link(websocket: WebSocket, room: Classroom, seat: JoinedHeadset) -> None:
    """A laptop's link: its hello and reports in, the teacher's buttons out.

    A message that is not one ``eeg4students join`` sends closes the link
    (code 1008) with the reason; a laptop joining again replaces this link.
    """

    def receive(text: str) -> int | None:
        message = limited_json.loads(text)
        kind = message.get("type") if isinstance(message, dict) else None
        with room._lock:
            if kind == "hello":
                return seat.joined(clean_hello(message), time.monotonic())
            if kind == "report" and seat.hello is not None:
                channels = seat.hello["channels"]
                seat.update(clean_report(message, channels, len(room.steps)), time.monotonic())
                return None
        raise ReportError("a laptop first says hello, then reports.")

    link: list[int] = []  # this link's number, once the laptop said hello

    async def send_buttons() -> None:
        """The teacher's buttons, as they are pressed; stop if the laptop joined again."""
        while True:
            await asyncio.sleep(UPDATE_SECONDS / 2)
            if not link:
                continue
            if link[-1] != seat.link:  # the laptop joined again on another link
                await websocket.close(code=1000, reason="joined again on another link")
                return
            with room._lock:
                commands = seat.take_commands()
            for command in commands:
                await websocket.send_json(command)

    sender = asyncio.create_task(send_buttons())
    try:
        while not sender.done():
            text = await websocket.receive_text()
            if len(text) > MAX_MESSAGE_BYTES:
                raise ReportError("a message far larger than a report.")
            number = await asyncio.to_thread(receive, text)
            if number is not None:
                link.append(number)
    except (ReportError, limited_json.JSONLimitError, ValueError) as exc:
        with contextlib.suppress(RuntimeError, OSError):
            await websocket.close(code=1008, reason=first_line(exc)[:120])
    except (WebSocketDisconnect, RuntimeError, OSError):
        return
    finally:
        sender.cancel()
        ended = (asyncio.CancelledError, WebSocketDisconnect, RuntimeError, OSError)
        with contextlib.suppress(*ended):
            await sender


def _csv(rows: list[dict]) -> str:
    """Rows as CSV text; a cell starting like a spreadsheet formula is quoted as text."""
    import csv
    import io

    out = io.StringIO()
    if rows:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow(
                {
                    k: f"'{v}" if isinstance(v, str) and v[:1] in ("=", "+", "-", "@") else v
                    for k, v in row.items()
                }
            )
    return out.getvalue()


def student_sheet(room: Classroom, keys: Keys, base: str) -> str:
    """A printable page of every student's link with its QR code (HTML).

    Parameters
    ----------
    room : Classroom
    keys : Keys
        This run's keys (they change every run: print the sheet each time).
    base : str
        ``http://host:port`` the students' devices reach this computer at.

    Returns
    -------
    html : str
        One card per student (label, QR code as inline SVG, the link), laid
        out to cut apart on A4 or Letter paper.
    """
    import html

    import segno

    cards = []
    for participant, link in urls(base, room, keys).items():
        if participant == "teacher":
            continue
        svg = segno.make(link, error="m").svg_inline(scale=4, border=2)
        cards.append(
            f'<div class="card" data-participant="{html.escape(participant)}">'
            f"<h2>{html.escape(participant)}</h2>{svg}"
            f'<p class="link">{html.escape(link)}</p></div>'
        )
    title = html.escape(f"{room.protocol.name} - session {room.session}")
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>Student links: {title}</title><style>"
        "body{font-family:system-ui,sans-serif;margin:12mm}"
        "h1{font-size:14pt;margin:0 0 2mm}p.note{font-size:9pt;margin:0 0 6mm}"
        ".cards{display:grid;grid-template-columns:repeat(3,1fr);gap:4mm}"
        ".card{border:1px dashed #888;padding:3mm;text-align:center;break-inside:avoid}"
        ".card h2{font-size:16pt;margin:0}.link{font-size:7pt;word-break:break-all;margin:1mm 0}"
        "</style></head><body>"
        f"<h1>Student links: {title}</h1>"
        '<p class="note">Cut along the lines and give each student their card: the code opens '
        "their cue page (it holds their key for this run only). Keep the sheet away from "
        "other classes.</p>"
        f'<div class="cards">{"".join(cards)}</div></body></html>'
    )


async def _feed(websocket: WebSocket, state) -> None:
    """Send ``state()`` every :data:`UPDATE_SECONDS` until the page goes away."""
    try:
        while True:
            # The snapshot waits for the classroom's lock: off the event loop, so one
            # page's wait never holds up another's update.
            await websocket.send_json(await asyncio.to_thread(state))
            await asyncio.sleep(UPDATE_SECONDS)
    except (WebSocketDisconnect, RuntimeError, OSError):
        return


def bind(host: str = "127.0.0.1", port: int = 8765) -> socket.socket:
    """Open the listening socket (port 0: any free port).

    Raises
    ------
    EEG4StudentsError
        If the address cannot be used (port taken, unknown host).
    """
    try:
        return socket.create_server((host, port), reuse_port=False)
    except OSError as exc:
        raise EEG4StudentsError(
            f"Cannot serve the classroom on {host}:{port} ({exc.strerror or exc}); choose "
            "another --port, or 0 for any free one."
        ) from exc


def base_url(sock: socket.socket) -> str:
    """``http://host:port`` for a bound socket (this computer's address if bound to all)."""
    host, port = sock.getsockname()[:2]
    if ipaddress.ip_address(host).is_unspecified:
        host = _lan_address()
    return f"http://{host}:{port}"


def _lan_address() -> str:
    """This computer's address on its network (127.0.0.1 if it has none).

    Connecting a UDP socket sends nothing; it only asks the system which of
    its addresses would be used to reach a private network.
    """
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("10.255.255.255", 1))
        return probe.getsockname()[0]
    return "127.0.0.1"


class Server:
    """The classroom's web server on a bound socket, in a thread or in this one.

    Parameters
    ----------
    room : Classroom
        The classroom served.
    keys : Keys
        Its tokens.
    sock : socket.socket
        From :func:`bind`.
    """

    def __init__(self, room: Classroom, keys: Keys, sock: socket.socket) -> None:
        self.sock = sock
        self.url = base_url(sock)
        config = uvicorn.Config(
            make_app(room, keys, served_hosts(sock), self.url),
            log_level="warning",
            lifespan="off",
            ws="auto",
            ws_max_size=MAX_MESSAGE_BYTES,
        )
        self.server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    def run(self) -> None:
        """Serve until :meth:`stop` (or Ctrl-C when run in the main thread)."""
        self.server.run(sockets=[self.sock])

    def start(self, timeout: float = 30.0) -> None:
        """Serve from a thread; return once the server accepts connections.

        Raises
        ------
        EEG4StudentsError
            If the server has not started within ``timeout`` seconds.
        """
        self._thread = threading.Thread(target=self.run, name="eeg4students-web", daemon=True)
        self._thread.start()
        ready = threading.Event()
        while not self.server.started and self._thread.is_alive():
            ready.wait(0.02)
            timeout -= 0.02
            if timeout <= 0:
                break
        if not self.server.started:
            raise EEG4StudentsError("The classroom's web server did not start.")

    def stop(self) -> None:
        """Ask the server to finish; wait for its thread if it has one."""
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)


@contextlib.contextmanager
def serving(room: Classroom, host: str = "127.0.0.1", port: int = 0) -> Iterator[dict[str, str]]:
    """Connect a classroom, tick it and serve its pages from threads, for scripts and tests.

    Parameters
    ----------
    room : Classroom
        A classroom not yet connected.
    host, port : str, int
        Where to listen (port 0: any free one).

    Yields
    ------
    links : dict of str to str
        The teacher's URL (``"teacher"``) and each participant's, as :func:`urls`.
        On leaving, the server stops and the classroom shuts down.
    """
    keys = Keys()
    server = Server(room, keys, bind(host, port))
    room.connect()
    loop = threading.Thread(target=room.run, name="eeg4students-classroom", daemon=True)
    loop.start()
    try:
        server.start()
        yield urls(server.url, room, keys)
    finally:
        server.stop()
        room.shutdown()
        loop.join(timeout=10)


#: Flags for headless Chromium on a machine without a network to the outside (no
#: background connections, no first-run work): the browser tests, the classroom
#: benchmark and the README's screenshots use them.
HEADLESS_CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
