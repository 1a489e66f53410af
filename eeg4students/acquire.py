"""Recording sessions with BrainFlow under a protocol: stream, cue, mark, save, recover.

A session:

1. connects to the headset (:func:`eeg4students.boards.input_params`) and
   starts streaming;
2. runs a **signal check** on a few seconds of data (per channel: flat,
   at the rail, line noise, amplitude) and waits for the user's go;
3. runs the session's task order: a cue for each task (name, instruction,
   countdown), a BrainFlow marker at every task start (the task's code) and
   end (code + 100), so block times are in the sample stream;
4. **streams to disk while recording**: at most every ``FLUSH_SECONDS`` the
   board's buffer is appended to a partial file with BrainFlow's own
   ``DataFilter.write_file`` (flushed and synced), under the dataset's
   ``sourcedata/eeg4students-partial/`` with a JSON note of who, what and how;
5. on completion, reads the partial file back, turns marker pairs into
   ``task/<Name>`` blocks, and stores the recording in the BIDS dataset
   with the device facts (board, BrainFlow version, sampling rate, samples
   captured and dropped); the partial file is then removed.

Faults lose nothing: on Ctrl-C, a BrainFlow error, or no new samples for
``timeout`` seconds, what was captured is saved with the interruption noted.
If the process is killed, the partial file holds everything up to the last
flush; :func:`recover` turns it into a dataset recording.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import mne
import numpy as np
from brainflow.board_shim import BoardShim
from brainflow.data_filter import DataFilter
from brainflow.exit_codes import BrainFlowError

from eeg4students import _json as limited_json
from eeg4students._files import atomic_write_json, removed_on_failure
from eeg4students._numbers import within
from eeg4students._signals import Interrupted, stop_on_signals
from eeg4students.boards import Board, get_board
from eeg4students.errors import BoardError, EEG4StudentsError, first_line
from eeg4students.events import task_description
from eeg4students.io.brainflow_file import read_brainflow_file
from eeg4students.lsl import (
    LSLStream,
    MarkerOutlet,
    add_stream_markers,
    board_spec,
    check_stream_name,
    is_lsl,
    markers_path,
    stream_key,
)
from eeg4students.names import STALL_TIMEOUT_RANGE
from eeg4students.playback import open_board, release_board
from eeg4students.protocol import Protocol, load_protocol
from eeg4students.quality import SignalCheck, check_signal
from eeg4students.store import Dataset, RecordingRef, check_label

FLUSH_SECONDS = 0.5
#: Seconds of the latest EEG a stream keeps in memory for signal checks.
RECENT_SECONDS = 4.0
END_OFFSET = 100
PARTIAL_DIR = Path("sourcedata") / "eeg4students-partial"
RECORDING_TASK = "eeg4students"


class RecordingInterrupted(EEG4StudentsError):
    """A session stopped early; what was captured is saved (see ``ref``).

    ``exit_status`` is what a command ends with: 130 after Ctrl-C, 143 after
    SIGTERM, 1 for a headset that stopped.
    """

    def __init__(
        self, message: str, ref: RecordingRef | None = None, exit_status: int = 1
    ) -> None:
        super().__init__(message)
        self.ref = ref
        self.exit_status = exit_status


def _note_path(partial: Path) -> Path:
    return partial.with_suffix(".json")


class _Stream:
    """A BrainFlow session whose samples go to a partial file as they arrive."""

    def __init__(self, board: str, spec: Board, partial: Path, connection: dict) -> None:
        self.spec = spec
        self.partial = partial
        #: ``converted``: a recording converted for the playback board (removed at the end).
        self.shim, self.converted = open_board(board, spec, connection)
        self.samples = 0
        self.dropped = 0
        self.last_new = time.monotonic()
        self._last_package: float | None = None
        self._recent = np.empty((len(spec.eeg_rows), 0))
        #: Seconds of the newest EEG kept in memory (:meth:`recent`).
        self.recent_seconds = RECENT_SECONDS
        #: Called on each chunk before it is written (a rehearsal's EEG-like signal).
        self.rewrite: Callable[[np.ndarray], None] | None = None

    def start(self) -> None:
        try:
            self.shim.prepare_session()
            self.shim.start_stream(450000)
        except BaseException:
            release_board(self.shim, self.converted)
            raise
        self.last_new = time.monotonic()

    def flush(self) -> int:
        """Append everything the board has buffered to the partial file."""
        data = self.shim.get_board_data()
        if data.shape[1]:
            if self.rewrite is not None:
                self.rewrite(data)
            DataFilter.write_file(data, str(self.partial), "a")
            # A forgetting of this participant may delete the file between the two
            # calls; the session then ends refused at storing, so nothing is left to sync.
            with contextlib.suppress(FileNotFoundError), self.partial.open("rb+") as fh:
                os.fsync(fh.fileno())
            self.samples += data.shape[1]
            self.last_new = time.monotonic()
            if self.spec.package_row is not None:
                packages = data[self.spec.package_row]
                if self._last_package is not None:
                    packages = np.concatenate([[self._last_package], packages])
                self.dropped += _dropped(packages)
                self._last_package = float(packages[-1])
            keep = round(self.recent_seconds * self.spec.sfreq)
            eeg = data[list(self.spec.eeg_rows)]
            self._recent = np.concatenate([self._recent, eeg], axis=1)[:, -keep:]
        return data.shape[1]

    def recent(self, n: int) -> np.ndarray:
        """The last ``n`` samples of EEG written to disk (microvolts), shape (n_eeg, <= n)."""
        return self._recent[:, -n:]

    def marker(self, value: float) -> None:
        self.shim.insert_marker(float(value))

    def stop(self) -> None:
        try:
            if self.shim.is_prepared():
                with contextlib.suppress(BrainFlowError):
                    self.shim.stop_stream()
                self.flush()
        finally:
            release_board(self.shim, self.converted)


def _blocks_from_markers(raw: mne.io.BaseRaw, protocol: Protocol) -> tuple[mne.io.BaseRaw, bool]:
    """Replace task start/end markers by ``task/<Name>`` blocks; report an open block."""
    codes = {float(t.code): t.name for t in protocol.tasks}
    ann = raw.annotations
    offset = raw.first_time if ann.orig_time is not None else 0.0
    starts, ends, keep = {}, {}, []
    for onset, duration, desc in zip(ann.onset, ann.duration, ann.description, strict=True):
        try:
            value = float(desc)
        except ValueError:
            keep.append((onset, duration, desc))
            continue
        if value in codes:
            starts.setdefault(value, []).append(onset - offset)
        elif value - END_OFFSET in codes:
            ends.setdefault(value - END_OFFSET, []).append(onset - offset)
        else:
            keep.append((onset, duration, desc))
    blocks, interrupted = [], False
    end_of_data = raw.times[-1] + 1 / raw.info["sfreq"]
    for code, onsets in starts.items():
        closes = sorted(ends.get(code, []))
        for onset in onsets:
            later = [t for t in closes if t > onset]
            stop = later[0] if later else end_of_data
            interrupted |= not later
            blocks.append((onset, stop - onset, task_description(codes[code])))
    new = mne.Annotations(
        [b[0] for b in blocks] + [k[0] - offset for k in keep],
        [b[1] for b in blocks] + [k[1] for k in keep],
        [b[2] for b in blocks] + [k[2] for k in keep],
        orig_time=ann.orig_time,
    )
    raw.set_annotations(new)
    return raw, interrupted


def _dropped(data_rows: np.ndarray | None) -> int:
    """Samples lost between packages, from the package-number channel (wraps at 256)."""
    if data_rows is None or len(data_rows) < 2:
        return 0
    steps = np.diff(data_rows.astype(np.int64)) % 256
    return int(np.sum(np.where(steps == 0, 0, steps - 1)))


_NOTE_FIELDS = ("participant", "session", "board", "protocol_name", "protocol_source")


def _read_note(partial: Path) -> dict:
    """The session note beside a partial stream, checked."""
    path = _note_path(partial)
    note = limited_json.read_object(
        path,
        error=EEG4StudentsError,
        message="{path}: the session note is damaged ({why}); it cannot say whose stream this is.",
    )
    if not all(isinstance(note.get(k), str) for k in _NOTE_FIELDS):
        raise EEG4StudentsError(
            f"{path}: the session note lacks {', '.join(_NOTE_FIELDS)}; it was not written by "
            "`eeg4students record`."
        )
    check_label("participant", note["participant"])
    check_label("session", note["session"])
    _spec_of(note)
    _first_row(note)
    return note


def _first_row(note: dict) -> int:
    """The sample the stored recording starts at (a classroom's *Start*; 0: the first)."""
    first = note.get("first_row", 0)
    if isinstance(first, bool) or not isinstance(first, int) or first < 0:
        raise EEG4StudentsError(
            f"The session note's first_row is {first!r}, not a sample number; it was not "
            "written by `eeg4students`."
        )
    last = note.get("last_row")
    if last is not None and (isinstance(last, bool) or not isinstance(last, int) or last < 0):
        raise EEG4StudentsError(
            f"The session note's last_row is {last!r}, not a sample number; it was not "
            "written by `eeg4students`."
        )
    return first


def _spec_of(note: dict) -> Board:
    """The board a session note names: BrainFlow's description, or the LSL stream's layout."""
    if is_lsl(note["board"]):
        layout = note.get("lsl")
        if not isinstance(layout, dict):
            raise EEG4StudentsError(
                f"The session note of the {note['board']} stream lacks the stream's layout; it "
                "was not written by `eeg4students record`."
            )
        return board_spec(stream_key(note["board"]), layout.get("sfreq"), layout.get("channels"))
    return get_board(note["board"], master=note.get("master_board"))


def _remove_partial(partial: Path) -> None:
    """Remove a partial stream with its note and kept markers."""
    for path in (partial, _note_path(partial), markers_path(partial)):
        path.unlink(missing_ok=True)


def _store(
    partial: Path, dataset: Dataset, interruption: str | None = None, note: dict | None = None
) -> RecordingRef:
    """Turn a partial stream (and its note, read from disk unless given) into a recording.

    The partial file is read and the recording built outside the dataset's
    lock, so that several headsets of a classroom are stored at once; only
    the write into the dataset holds it.
    """
    note = note if note is not None else _read_note(partial)
    _refuse_forgotten(partial, dataset, note)
    try:
        raw, extra, task_fields = _prepare(partial, note, interruption)
    except (BrainFlowError, OSError, EEG4StudentsError):
        _refuse_forgotten(partial, dataset, note)  # forgotten meanwhile: its file was deleted
        raise
    with dataset.lock():
        _refuse_forgotten(partial, dataset, note)
        ref = dataset.add_recording(
            raw,
            note["participant"],
            note["session"],
            RECORDING_TASK,
            source=partial,
            source_format="lsl" if is_lsl(note["board"]) else "brainflow",
            extra=extra,
            task_fields=task_fields,
        )
        _remove_partial(partial)
    return ref


def _refuse_forgotten(partial: Path, dataset: Dataset, note: dict) -> None:
    """If the participant withdrew while (or after) the session was recorded, keep nothing."""
    entry = dataset.forgotten().get(note["participant"])
    if entry is not None:
        _remove_partial(partial)
        raise RecordingInterrupted(
            f"Participant {note['participant']!r} withdrew and was forgotten on "
            f"{entry['time']} (audit entry {entry['seq']}); the stream of this session was "
            "deleted, not stored."
        )


def _prepare(partial: Path, note: dict, interruption) -> tuple:
    """Read a partial stream once: the recording, its sidecar facts and task fields."""
    spec = _spec_of(note)
    protocol = load_protocol(note["protocol_source"]).with_timing(note.get("task_seconds"))
    if not partial.is_file() or partial.stat().st_size == 0:
        _remove_partial(partial)
        raise RecordingInterrupted(
            f"{partial}: no samples were captured before the session stopped; nothing to save."
        )
    try:
        data = DataFilter.read_file(str(partial))
    except BrainFlowError:
        read_brainflow_file(partial, board=spec)  # refuses the file, saying what is wrong
        raise
    first = _first_row(note)
    # A classroom session that ended leaves out the wait to be saved after its tail.
    last = min(note.get("last_row") or data.shape[1], data.shape[1])
    if first >= last:
        # Stopped before any sample after Start: what came before is the whole record.
        first, last = 0, data.shape[1]
    raw = read_brainflow_file(partial, board=spec, first_row=first, last_row=last, data=data)
    raw, open_block = _blocks_from_markers(raw, protocol)
    add_stream_markers(raw, partial)
    data = data[:, first:last]
    package = data[spec.package_row] if spec.package_row is not None else None
    stamps = data[spec.timestamp_row] if spec.timestamp_row is not None else None
    seconds = float(stamps[-1] - stamps[0]) + 1 / spec.sfreq if stamps is not None else None
    expected = round(seconds * spec.sfreq) if seconds else None
    # Without a package counter (LSL), what the time stamps leave room for and did not get.
    dropped = _dropped(package) if package is not None else max(0, (expected or 0) - data.shape[1])
    if interruption is None and open_block:
        interruption = "the session stopped inside a task block"
    if interruption:
        raw.annotations.append(raw.times[-1], 0.0, "interrupted")
    extra = {
        "board": note["board"],
        **(
            {"lsl_stream": stream_key(note["board"]), "lsl_markers": note.get("lsl_markers")}
            if is_lsl(note["board"])
            else {"brainflow_version": BoardShim.get_version()}
        ),
        "sampling_rate": spec.sfreq,
        "samples_captured": int(data.shape[1]),
        "samples_expected": expected,
        "dropped_samples": dropped,
        "protocol": note["protocol_name"],
        "interruption": interruption,
    }
    return raw, extra, protocol.bids_task_fields(note["session"])


def recover(partial: str | Path, dataset: str | Path) -> RecordingRef:
    """Store the stream of a session that was killed, with the interruption noted.

    Parameters
    ----------
    partial : str | Path
        The partial stream (``DATASET/sourcedata/eeg4students-partial/*.csv``).
    dataset : str | Path
        The dataset to store it in.

    Returns
    -------
    ref : RecordingRef
    """
    partial = Path(partial)
    if not _note_path(partial).is_file():
        raise EEG4StudentsError(
            f"{partial}: no session note ({_note_path(partial).name}) beside it; give a partial "
            "stream written by `eeg4students record`."
        )
    note = _read_note(partial)  # a damaged note is refused before anything is written
    with removed_on_failure(Path(dataset)):
        store = Dataset.create(dataset)
        return _store(partial, store, interruption="the recorder stopped unexpectedly", note=note)


def _connect(
    board: str,
    store: Dataset,
    participant: str,
    session: str,
    proto: Protocol,
    protocol: str | Path | None,
    task_seconds: float | None,
    connection: dict,
    markers: str | None,
) -> tuple[Path, _Stream | LSLStream, dict, Board]:
    """Write the session note and start streaming (BrainFlow or LSL); leave nothing if it fails."""
    folder = store.root / PARTIAL_DIR
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    partial = folder / f"sub-{participant}_ses-{session}_{stamp}.csv"
    note = {
        "participant": participant,
        "session": session,
        "board": board,
        "master_board": connection.get("master_board"),
        "protocol_name": proto.name,
        "protocol_source": str(protocol) if protocol else "eeg4students",
        "task_seconds": task_seconds,
        "started": stamp,
        "order": list(proto.order(session)),
    }
    atomic_write_json(_note_path(partial), note)
    try:
        if is_lsl(board):
            stream = LSLStream(board, partial, timeout=connection.get("timeout"), markers=markers)
            spec = stream.start()
            # The stream's layout, for reading the partial file (and recovering it) later.
            note["lsl"] = {"sfreq": spec.sfreq, "channels": list(spec.eeg_names)}
            note["lsl_markers"] = markers
            atomic_write_json(_note_path(partial), note)
        else:
            spec = get_board(board, master=connection.get("master_board"))
            stream = _Stream(board, spec, partial, connection)
            stream.start()
    except (BrainFlowError, BoardError) as exc:
        _remove_partial(partial)
        with contextlib.suppress(OSError):
            folder.rmdir()
            folder.parent.rmdir()
        if isinstance(exc, BoardError):
            raise
        raise BoardError(
            f"Cannot start a session with the {board} headset ({first_line(exc)}); check that "
            "it is on, charged and paired, and the connection options (--mac-address, "
            "--serial-port, --serial-number)."
        ) from exc
    return partial, stream, note, spec


def check_stall_timeout(timeout: float) -> float:
    """Refuse a drop-out timeout that is not a finite number of seconds in range.

    A NaN would turn drop-out detection off without a word (no wait is ever
    longer than NaN); infinity likewise.

    Raises
    ------
    EEG4StudentsError
        If ``timeout`` is not between the bounds of :data:`STALL_TIMEOUT_RANGE`.
    """
    lo, hi = STALL_TIMEOUT_RANGE
    if not within(timeout, lo, hi):
        raise EEG4StudentsError(
            f"The stall timeout must be {lo:g} to {hi:g} seconds, not {timeout}."
        )
    return float(timeout)


def record_session(
    board: str,
    participant: str,
    session: str,
    dataset: str | Path,
    *,
    protocol: str | Path | None = None,
    task_seconds: float | None = None,
    timeout: float = 5.0,
    confirm: Callable[[SignalCheck], bool] | None = None,
    show: Callable[[str], None] = print,
    check_seconds: float = 2.0,
    connection: dict | None = None,
    markers: str | None = None,
    publish: str | None = None,
) -> RecordingRef:
    """Record one session of a participant under a protocol into a dataset.

    Parameters
    ----------
    board : str
        Friendly board name (``synthetic``, ``muse_2``, ``playback``...), or
        ``lsl:KEY`` for the LSL stream named, typed or with source id KEY
        (:mod:`eeg4students.lsl`).
    participant, session : str
        BIDS labels; the session's task order comes from the protocol.
    dataset : str | Path
        Dataset folder (created if new).
    protocol : str | Path | None
        Protocol file or built-in name; None for EEG4Students.
    task_seconds : float | None
        Override the block length.
    timeout : float
        Seconds without new samples after which the headset counts as gone.
    confirm : callable | None
        Called with the signal check; return True to start, False to check
        again. None starts at once (scripted use, ``--yes``).
    show : callable
        Receives every line of the cues.
    check_seconds : float
        Length of the signal check.
    connection : dict | None
        Options for :func:`eeg4students.boards.input_params` (for an LSL
        stream only ``timeout``: seconds to find it).
    markers : str | None
        An LSL marker stream (name, type or source id) whose markers are
        recorded as ``lsl/<text>`` annotations.
    publish : str | None
        Name of an LSL marker stream to publish the cues on
        (``task/<Name>/start``, ``task/<Name>/end``).

    Returns
    -------
    ref : RecordingRef

    Raises
    ------
    BoardError
        If the headset cannot be reached; nothing is left on disk (a dataset
        folder this call created is removed).
    RecordingInterrupted
        On Ctrl-C, a BrainFlow error or a silent headset; the data captured so
        far is saved and ``ref`` says where.
    """
    participant = check_label("participant", participant)
    session = check_label("session", session)
    timeout = check_stall_timeout(timeout)
    connection = dict(connection or {})
    if is_lsl(board):
        stream_key(board)
    else:
        get_board(board, master=connection.get("master_board"))
    proto = load_protocol(protocol).with_timing(task_seconds)
    order = proto.order(session)
    if publish:
        check_stream_name(publish)
    # Ctrl-C and SIGTERM save what was captured, whatever the parent process ignored.
    with stop_on_signals() as guard:
        with removed_on_failure(Path(dataset)):
            store = Dataset.create(dataset)
            store.check_not_forgotten(participant)
            partial, stream, note, spec = _connect(
                board,
                store,
                participant,
                session,
                proto,
                protocol,
                task_seconds,
                connection,
                markers,
            )
        if isinstance(stream, LSLStream):
            show(stream.summary)
        # Published once the stream is found (the search must not list the cues' own stream).
        outlet = MarkerOutlet(publish) if publish else None
        try:
            _signal_check(stream, spec, confirm, show, check_seconds, timeout)
            _wait(stream, proto.lead_in_seconds, timeout, show, "get ready")
            for i, task_name in enumerate(order):
                task = proto.task(task_name)
                show(f"[{i + 1}/{len(order)}] {task.name}: {task.instruction}")
                stream.marker(task.code)
                if outlet is not None:
                    outlet.push(f"task/{task.name}/start")
                _wait(stream, proto.task_seconds, timeout, show, task.name)
                stream.marker(task.code + END_OFFSET)
                if outlet is not None:
                    outlet.push(f"task/{task.name}/end")
                if i < len(order) - 1:
                    _wait(stream, proto.rest_seconds, timeout, show, "rest")
            _wait(stream, 0.3, timeout, show, None)
        except KeyboardInterrupt as exc:
            stop = exc if isinstance(exc, Interrupted) else Interrupted(signal.SIGINT)
            with guard.deferred():
                _abort(stream, partial, store, note, stop.reason, stop.exit_status)
        except BrainFlowError as exc:
            with guard.deferred():
                _abort(stream, partial, store, note, f"the headset reported an error ({exc})")
        except _Silent as exc:
            with guard.deferred():
                _abort(stream, partial, store, note, str(exc))
        with guard.deferred():  # a signal now waits for the recording to be stored
            stream.stop()
            return _store(partial, store, note=note)


class _Silent(Exception):
    """No new samples for longer than the timeout."""


def _wait(stream: _Stream, seconds: float, timeout: float, show, label: str | None) -> None:
    """Keep streaming to disk for ``seconds``, showing a countdown."""
    end = time.monotonic() + seconds
    next_flush = time.monotonic()
    shown = None
    while (left := end - time.monotonic()) > 0:
        time.sleep(min(0.05, left))
        now = time.monotonic()
        if now >= next_flush:
            stream.flush()
            next_flush = now + FLUSH_SECONDS
            if now - stream.last_new > timeout:
                raise _Silent(
                    f"no samples from the headset for {timeout:g} s (is it on and near?)"
                )
        if label is not None and (whole := int(np.ceil(left))) != shown:
            shown = whole
            show(f"    {label}: {whole} s")


def _signal_check(stream, spec, confirm, show, seconds, timeout) -> None:
    while True:
        _wait(stream, seconds, timeout, show, None)
        stream.flush()
        data = stream.recent(round(seconds * spec.sfreq))
        check = check_signal(data, list(spec.eeg_names), spec.sfreq, rail_uv=spec.rail_uv)
        show("signal check:")
        for row in check.table:
            show(
                f"  {row['channel']:>6} peak-to-peak {row['ptp_uv']:8.1f} uV  "
                f"line {row['line_ratio']:5.2f}  {row['verdict']}"
            )
        if confirm is None:
            attention = [row for row in check.table if row["verdict"] != "ok"]
            if attention:
                verdicts = Counter(row["verdict"] for row in attention)
                said = ", ".join(f"{v} {n}" for v, n in verdicts.most_common())
                show(
                    f"warning: {len(attention)} of {len(check.table)} channels need attention "
                    f"({said}); recording anyway (--yes)."
                )
            return
        if confirm(check):
            return


def _abort(
    stream: _Stream, partial: Path, store: Dataset, note: dict, reason: str, status: int = 1
):
    with contextlib.suppress(BrainFlowError):
        stream.stop()
    ref = _store(partial, store, interruption=reason, note=note)
    raise RecordingInterrupted(
        f"Recording stopped early ({reason}); the {ref.path.name} data captured so far is saved "
        "in the dataset.",
        ref,
        exit_status=status,
    )
