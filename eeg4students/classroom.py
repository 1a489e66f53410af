"""A classroom: several headsets recorded at once under one protocol.

Each headset streams through the same code as ``eeg4students record``
(:mod:`eeg4students.acquire`): a BrainFlow session whose samples go to a
partial file under the dataset's ``sourcedata/`` as they arrive, a session
note beside it, markers at every task's start and end, and the recording
stored in the BIDS dataset at the end (under the dataset's lock), or with
the interruption noted if the headset drops out or the teacher stops it. A
crash leaves partial files that ``eeg4students recover`` stores.

One thread (:meth:`Classroom.run`) ticks every headset every
:data:`TICK_SECONDS`: it writes new samples to disk, judges each channel on
the last :data:`QUALITY_SECONDS` (as ``record``'s signal check does), moves
recording headsets along their session's timeline and inserts the markers.
Finished recordings are stored by other threads (:data:`SAVERS` at once),
so one headset's save never delays another's markers.
:meth:`Classroom.snapshot` gives the state the web pages show
(:mod:`eeg4students.web`). A seat whose board is ``join`` is a student's
own laptop (:mod:`eeg4students.joined`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections import Counter, deque
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from brainflow.exit_codes import BrainFlowError

from eeg4students import acquire
from eeg4students.acquire import check_stall_timeout
from eeg4students.boards import Board, get_board
from eeg4students.contact import advice
from eeg4students.errors import EEG4StudentsError, first_line
from eeg4students.live import Predictor
from eeg4students.lsl import MarkerOutlet, check_stream_name, is_lsl
from eeg4students.modelstore import SavedModel
from eeg4students.protocol import Step, load_protocol
from eeg4students.quality import check_signal
from eeg4students.rehearsal import RehearsalSignal
from eeg4students.roster import MAX_HEADSETS, RosterError, Seat, is_join
from eeg4students.store import Dataset, check_label

log = logging.getLogger("eeg4students")

#: Seconds between two rounds over the headsets.
TICK_SECONDS = 0.05
#: Labels of a headset's prediction history shown on its tile.
HISTORY = 5
#: States of a headset (see :class:`Headset`; a student's laptop reports the same ones).
STATES = (
    "connecting",
    "connected",
    "recording",
    "saving",
    "saved",
    "interrupted",
    "lost",
    "stopped",
    "failed",
)
#: States a headset can be connected again from (the teacher's Restart).
RESTARTABLE = ("lost", "stopped", "failed", "interrupted")
#: States of a headset that has not finished (a laptop not joined yet is ``waiting``).
UNFINISHED = ("waiting", "connecting", "connected", "recording", "saving")
#: Seconds streamed after the last task's end marker, so that it lands in the data.
TAIL_SECONDS = 0.3
#: Seconds of EEG each quality judgement looks at.
QUALITY_SECONDS = 2.0
#: Seconds between two quality judgements of a headset (the page shows each).
QUALITY_EVERY = 0.4
#: Recordings stored at once at the end of a session (reading each one's stream in parallel).
SAVERS = max(2, min(4, os.cpu_count() or 1))
#: Boards that are not headsets: several of them run at once in a rehearsal.
SIMULATED_BOARDS = ("synthetic", "playback")


class Headset:
    """One participant's headset in a classroom: stream, quality, timeline, recording.

    States: ``connecting``, ``connected`` (streaming, not recording),
    ``recording``, ``saving``, ``saved``, ``interrupted`` (stored with the
    interruption noted), ``lost`` (dropped out before recording; nothing
    stored), ``stopped`` (stopped before recording; nothing stored) and
    ``failed`` (could not connect).
    """

    def __init__(self, seat: Seat, room: Classroom) -> None:
        self.seat = seat
        self.room = room
        self.spec: Board | None = self._spec_of(seat)
        self.connection = dict(seat.connection)
        if seat.board.strip().lower() in SIMULATED_BOARDS:
            # BrainFlow refuses a second session with the same parameters.
            self.connection["other_info"] = f"eeg4students:{seat.participant}"
        #: EEG in EEG's range instead of the synthetic board's sines (a rehearsal).
        self.rehearsal = (
            RehearsalSignal(len(self.spec.eeg_names), self.spec.sfreq, seat.participant)
            if seat.board.strip().lower() == "synthetic"
            else None
        )
        for name in seat.loose if self.rehearsal is not None else ():  # from the roster
            self.rehearsal.loosen(self.spec.eeg_names.index(name))
        self.state = "connecting"
        self.message = ""
        #: Whether the stream went silent or failed (not stopped by the teacher).
        self.dropped_out = False
        #: Channel judgements made while recording, and how many were not ok.
        self.judged = self.judged_bad = 0
        self.quality: list[dict] = []
        self.quality_time = 0.0
        self.stream: acquire._Stream | None = None
        self.partial: Path | None = None
        self.note: dict | None = None
        self.started: float | None = None
        self.step = -1
        self._ended = False
        self._counts = (0, 0)
        self.saved_path: str | None = None
        self._next_flush = 0.0
        self.prediction: dict | None = None
        self._next_prediction = 0.0
        self.predictor: Predictor | None = None
        #: The model this headset's tile shows the prediction of (None: no prediction).
        self.model = room.model_for(seat.board)
        #: The last few labels predicted, newest last.
        self.history: deque[str] = deque(maxlen=HISTORY)
        if self.model is not None and self.spec is not None:
            try:
                self.predictor = Predictor(self.model, self.spec)
            except EEG4StudentsError as exc:
                raise RosterError(f"{seat.participant}'s headset: {exc}") from exc

    @staticmethod
    def _spec_of(seat: Seat) -> Board | None:
        """The board's layout; None while unknown (an LSL stream's, until it is found)."""
        if is_lsl(seat.board):
            return None
        return get_board(seat.board, master=seat.connection.get("master_board"))

    # -- life cycle ----------------------------------------------------------

    def connect(self) -> None:
        """Start the BrainFlow session or LSL inlet (the partial file and note are written)."""
        try:
            self.partial, self.stream, self.note, self.spec = acquire._connect(
                self.seat.board,
                self.room.dataset,
                self.seat.participant,
                self.room.session,
                self.room.protocol,
                self.room.protocol_source,
                self.room.task_seconds,
                self.connection,
                None,
            )
            if self.model is not None and self.predictor is None:
                self.predictor = Predictor(self.model, self.spec)  # an LSL stream's layout
        except EEG4StudentsError as exc:
            if self.stream is not None:  # the stream was found but the model does not fit it
                self._discard("failed", f"{exc}")
                return
            self.state, self.message = "failed", str(exc)
            return
        self.state, self.message = "connected", "streaming; not recording yet"
        if self.rehearsal is not None:
            rows = list(self.spec.eeg_rows)
            self.stream.rewrite = lambda data: self.rehearsal.rewrite(data, rows)
        if self.predictor is not None:
            needed = self.predictor.needed / self.spec.sfreq + 2 * TICK_SECONDS
            self.stream.recent_seconds = max(self.stream.recent_seconds, needed)

    def start(self, now: float) -> bool:
        """Begin the session's timeline; False if the headset is not ready.

        The recording stored starts here: what streamed before (the wait for
        *Start*) is written to the partial file but left out when storing.
        """
        if self.state != "connected":
            return False
        try:
            self.stream.flush()
        except (BrainFlowError, OSError):
            return False  # it is dropping out: the next round says so
        self.note["first_row"] = self.stream.samples
        acquire.atomic_write_json(acquire._note_path(self.partial), self.note)
        self.started, self.step, self._ended = now, -1, False
        self.state, self.message = "recording", ""
        return True

    def stop(self, reason: str = "stopped by the teacher") -> None:
        """End a recording early (stored with the reason noted) or a stream not recorded."""
        if self.state == "recording":
            self._finish(reason)
        elif self.state == "connected":
            self._discard("stopped", "stopped before recording; nothing stored")

    def close(self) -> None:
        """Stop everything: recordings are stored as interrupted, streams released."""
        self.stop("the classroom was closed")

    def reset(self) -> bool:
        """Make a stopped, dropped or failed headset ``connecting`` again; False if it is not one.

        A recording stored as interrupted stays; the next one is the next run.
        :meth:`connect` follows.
        """
        if self.state not in RESTARTABLE:
            return False
        self.started, self.step, self._ended = None, -1, False
        self.quality, self.quality_time, self.prediction = [], 0.0, None
        self.saved_path, self._counts, self.dropped_out = None, (0, 0), False
        self.judged = self.judged_bad = 0
        self.history.clear()
        self.state, self.message = "connecting", "connecting again"
        return True

    # -- one round -----------------------------------------------------------

    def tick(self, now: float) -> None:
        """Write new samples, judge the signal and follow the timeline."""
        if self.state not in ("connected", "recording"):
            return
        try:
            if now >= self._next_flush:
                self.stream.flush()
                self._next_flush = now + acquire.FLUSH_SECONDS
            if now - self.stream.last_new > self.room.timeout:
                raise acquire._Silent(
                    f"no samples from the headset for {self.room.timeout:g} s (is it on and near?)"
                )
        except (BrainFlowError, acquire._Silent, OSError) as exc:
            reason = str(exc) if isinstance(exc, acquire._Silent) else first_line(exc)
            self.dropped_out = True
            if self.state == "recording":
                self._finish(f"the headset dropped out: {reason}")
            else:
                self._discard("lost", f"the headset dropped out: {reason}")
            return
        if now - self.quality_time >= QUALITY_EVERY:
            self._judge(now)
        if self.predictor is not None and now >= self._next_prediction:
            self._predict(now)
        if self.state == "recording":
            self._follow(now)

    def check(self, now: float) -> None:
        """Judge the signal now (the teacher's *Check*), if it streams."""
        if self.state in ("connected", "recording"):
            self._judge(now)

    def _judge(self, now: float) -> None:
        data = self.stream.recent(round(QUALITY_SECONDS * self.spec.sfreq))
        if data.shape[1] < self.spec.sfreq / 2:
            return
        check = check_signal(
            data, list(self.spec.eeg_names), self.spec.sfreq, rail_uv=self.spec.rail_uv
        )
        self.quality, self.quality_time = check.table, now
        if self.state == "recording":  # the share of bad channels while recording
            self.judged += len(check.table)
            self.judged_bad += sum(row["verdict"] != "ok" for row in check.table)

    def _predict(self, now: float) -> None:
        self._next_prediction = now + self.model.preprocess.hop
        try:
            update = self.predictor.predict(self.stream.recent(self.predictor.needed))
        except Exception:  # a prediction that fails must not stop the recording
            log.exception("live prediction for %s failed", self.seat.participant)
            update = {"label": None, "rejected": "prediction failed (see the log)"}
        if update is not None:
            self.prediction = {**update, "at": now}
            if update.get("label") is not None and not update.get("rejected"):
                self.history.append(str(update["label"]))

    def _follow(self, now: float) -> None:
        steps = self.room.steps
        elapsed = now - self.started
        while self.step + 1 < len(steps) and elapsed >= steps[self.step + 1].start:
            ending = steps[self.step].task if self.step >= 0 else None
            if ending is not None:
                self.stream.marker(ending.code + acquire.END_OFFSET)
                self.room.publish(self.seat.participant, ending, "end")
            self.step += 1
            if steps[self.step].task is not None:
                self.stream.marker(steps[self.step].task.code)
                self.room.publish(self.seat.participant, steps[self.step].task, "start")
        if elapsed >= steps[-1].end and not self._ended:
            self.stream.marker(steps[-1].task.code + acquire.END_OFFSET)
            self.room.publish(self.seat.participant, steps[-1].task, "end")
            self._ended = True
        if elapsed >= steps[-1].end + TAIL_SECONDS:  # the end marker needs a sample after it
            self._finish(None)

    # -- endings ---------------------------------------------------------------

    def _finish(self, interruption: str | None) -> None:
        if interruption is None:
            # The session ends here (its tail streamed): the wait to be saved is left out.
            with contextlib.suppress(BrainFlowError, OSError):
                self.stream.flush()
                self.note["last_row"] = self.stream.samples
                acquire.atomic_write_json(acquire._note_path(self.partial), self.note)
        self.state = "saving"
        self.message = interruption or "session complete; saving"
        self.room.save(self, interruption)

    def _release(self) -> None:
        """Stop the stream and let BrainFlow's session go (its counts are kept)."""
        with self.room._lock:
            with contextlib.suppress(BrainFlowError):
                self.stream.stop()
            self._counts = (self.stream.samples, self.stream.dropped)
            self.stream = None

    @property
    def counts(self) -> tuple[int, int]:
        """Samples captured and dropped so far."""
        return (self.stream.samples, self.stream.dropped) if self.stream else self._counts

    def _discard(self, state: str, message: str) -> None:
        """End a stream that was never recorded: nothing of it is kept."""
        self._release()
        self.partial.unlink(missing_ok=True)
        acquire._note_path(self.partial).unlink(missing_ok=True)
        self.state, self.message = state, message

    def _store(self, interruption: str | None) -> None:
        """In the saving thread: stop the stream and store what it captured."""
        self._release()
        try:
            ref = acquire._store(self.partial, self.room.dataset, interruption, self.note)
        except EEG4StudentsError as exc:
            message = str(exc)
            if self.partial.is_file():
                message += f" Its stream stays in {self.partial} for `eeg4students recover`."
            with self.room._lock:
                self.state, self.message = "interrupted", message
            return
        with self.room._lock:
            self.saved_path = ref.path.relative_to(self.room.dataset.root).as_posix()
            self.state = "interrupted" if interruption else "saved"
            self.message = (
                f"saved with the interruption noted ({interruption})" if interruption else "saved"
            )

    def rehearse_contact(self, loose: bool) -> list[str]:
        """Loosen the next channel not yet loose (a rehearsal), or fix them all.

        Returns the channels now loose.

        Raises
        ------
        RosterError
            If the headset is not a synthetic one.
        """
        signal = self.rehearsal
        if signal is None:
            raise RosterError(
                f"{self.seat.participant}'s headset is a real one: only synthetic headsets "
                "rehearse a loose contact."
            )
        if loose:
            free = [i for i in range(len(self.spec.eeg_names)) if i not in signal.loose]
            if free:
                signal.loosen(free[0])
        else:
            signal.fix()
        return self.loose_channels()

    # -- what the pages show ---------------------------------------------------

    def loose_channels(self) -> list[str]:
        """The channels a rehearsal has loosened (empty for a real headset)."""
        if self.rehearsal is None:
            return []
        return sorted(self.spec.eeg_names[i] for i in self.rehearsal.loose)

    @property
    def sample_rate(self) -> float | None:
        """Samples per second (None while an LSL stream is not found yet)."""
        return self.spec.sfreq if self.spec is not None else None

    def current(self, now: float) -> tuple[Step | None, float, Step | None]:
        """The step under way, the seconds left in it, and the next step."""
        if self.state != "recording" or self.step < 0:
            return None, 0.0, self.room.steps[0] if self.state == "connected" else None
        steps = self.room.steps
        step = steps[self.step]
        left = max(0.0, step.end - (now - self.started))
        following = steps[self.step + 1] if self.step + 1 < len(steps) else None
        return step, left, following

    def status(self) -> tuple[str, list[str]]:
        """One word for the class view, and what to do about each bad electrode.

        ``connecting``, ``ready`` (connected, every channel ok), ``fix contact``
        (connected or recording with a bad channel), ``recording``, ``saving``,
        ``done``, ``dropped`` (it dropped out: lost before recording, or
        stored interrupted by a drop-out), ``stopped`` (by the teacher, or the
        classroom closed) or ``failed`` (could not connect).
        """
        fixes = [
            text
            for row in self.quality
            if (text := advice(row["channel"], row["verdict"])) is not None
        ]
        live = self.state in ("connected", "recording")
        if live and fixes:
            return "fix contact", fixes
        if self.state == "connected":
            return ("ready" if self.quality else "connecting"), []
        if self.state == "saved":
            return "done", []
        if self.state == "lost" or (self.state == "interrupted" and self.dropped_out):
            return "dropped", []
        if self.state == "interrupted":
            return "stopped", []
        return self.state, []

    def snapshot(self, now: float) -> dict:
        """The headset's state for the teacher's page (JSON-ready)."""
        step, left, following = self.current(now)
        samples, dropped = self.counts
        live = self.state in ("connected", "recording")
        status, fixes = self.status()
        return {
            "participant": self.seat.participant,
            "board": self.seat.board,
            "state": self.state,
            "status": status,
            "fix": fixes,
            "restartable": self.state in RESTARTABLE,
            "rehearsal": self.rehearsal is not None,
            "loose": self.loose_channels(),
            "message": self.message,
            "quality": self.quality if live else [],
            "quality_age_s": round(now - self.quality_time, 2) if self.quality and live else None,
            "samples": samples,
            "dropped": dropped,
            "sfreq": self.sample_rate,
            "step": step.label if step else None,
            "left_s": round(left, 1),
            "next": following.label if following else None,
            "step_index": self.step,
            "steps": len(self.room.steps),
            "saved": self.saved_path,
            "prediction": (
                {
                    "label": self.prediction["label"],
                    "rejected": self.prediction["rejected"],
                    "age_s": round(now - self.prediction["at"], 2),
                    "confidence": _confidence(self.prediction),
                    "history": list(self.history),
                }
                if self.prediction and live
                else None
            ),
        }

    def _place(self, now: float) -> tuple[int, int, float]:
        """The task under way (or next, in a pause; 1-based), the task count, the share done."""
        steps = self.room.steps
        tasks = [i for i, s in enumerate(steps) if s.task is not None]
        if self.state in ("saving", "saved"):
            return len(tasks), len(tasks), 1.0
        if self.state != "recording" or self.step < 0:
            return 0, len(tasks), 0.0
        number = sum(1 for i in tasks if i < self.step) + 1
        done = min(1.0, max(0.0, (now - self.started) / steps[-1].end))
        return min(number, len(tasks)), len(tasks), done

    def cue(self, now: float) -> dict:
        """What the participant's own page shows: the instruction, the countdown, what next.

        Besides the texts: ``task_number`` (the task under way, or the next one
        during a pause, 1-based; 0 before the start), ``tasks`` (how many the
        session has), ``progress`` (the share of the session done, 0-1) and
        ``next_task`` with ``next_task_text`` (the next task and its
        instruction, also when a rest comes before it), and ``recorder``
        (``teacher``: the recording is made on the teacher's computer, so it
        goes on if the student's page loses its connection).
        """
        step, left, following = self.current(now)
        number, count, progress = self._place(now)
        # The next task itself, also when a rest comes first.
        upcoming = [s for s in self.room.steps if s.task is not None]
        task_next = upcoming[number] if 0 < number < len(upcoming) and step and step.task else None
        if task_next is None and following is not None and following.task is not None:
            task_next = following
        if self.state == "recording" and step is not None:
            kind = "task" if step.task else step.label.replace(" ", "-")
            title = step.label if step.task else step.label.capitalize()
            text = step.task.instruction if step.task else _PAUSE_TEXT.get(step.label, "")
        elif self.state in ("saving", "saved"):
            kind, title, text = "done", "Done", "Thank you! You can take the headset off."
        elif self.state in ("interrupted", "lost", "stopped", "failed"):
            kind, title = "stopped", "Stopped"
            text = "The session stopped. Wait for your teacher."
        else:
            kind, title = "wait", "Please wait"
            text = "Sit still and relax; your teacher starts the session."
        return {
            "participant": self.seat.participant,
            "state": self.state,
            "kind": kind,
            "title": title,
            "text": text,
            "left_s": round(left, 1),
            "next": following.label if following else None,
            "next_text": following.task.instruction if following and following.task else "",
            "next_task": task_next.label if task_next else None,
            "next_task_text": task_next.task.instruction if task_next else "",
            "task_number": number,
            "tasks": count,
            "progress": round(progress, 3),
            "recorder": "teacher",
        }


def _confidence(prediction: dict) -> float | None:
    """The probability the model gave its label (None when it gives none)."""
    shares = prediction.get("probabilities")
    label = prediction.get("label")
    if not shares or label is None:
        return None
    value = shares.get(str(label))
    return None if value is None else round(float(value), 3)


_PAUSE_TEXT = {
    "get ready": "Sit comfortably and keep still; the first task starts soon.",
    "rest": "Relax for a moment; the next task starts soon.",
}


class Classroom:
    """Several headsets recording one session of a protocol into one dataset.

    Parameters
    ----------
    dataset : str | Path
        The dataset (created if new).
    session : str
        Session label; the task order comes from the protocol.
    seats : list of Seat
        Participants and headsets (labels must differ).
    protocol : str | Path | None
        Protocol file or built-in name; None for EEG4Students.
    task_seconds : float | None
        Override the block length (rehearsals).
    timeout : float
        Seconds without samples after which a headset counts as gone.
    model : SavedModel | dict of str to SavedModel | None
        A model (:func:`eeg4students.modelstore.load_model`) whose live
        prediction each headset shows, as ``eeg4students live`` makes it; or
        one per board name (``{"muse_2": m1, "cyton": m2}``; ``"*"`` for the
        others) for a class with mixed headsets.
    publish : str | None
        Name of an LSL marker stream on which every headset's task starts
        and ends are sent as they happen (``sub-<label>/task/<Name>/start``
        and ``.../end``), e.g. for LabRecorder or a game.

    Raises
    ------
    RosterError
        If a participant appears twice or was forgotten by the dataset, or
        the model does not fit a headset's channels.
    """

    def __init__(
        self,
        dataset: str | Path,
        session: str,
        seats: list[Seat],
        *,
        protocol: str | Path | None = None,
        task_seconds: float | None = None,
        timeout: float = 5.0,
        model: SavedModel | dict[str, SavedModel] | None = None,
        publish: str | None = None,
    ) -> None:
        if not seats:
            raise RosterError("No headsets: give --headset or --roster.")
        if len(seats) > MAX_HEADSETS:
            raise RosterError(
                f"{len(seats)} headsets: a classroom serves at most {MAX_HEADSETS} (split the "
                "class into several rooms)."
            )
        counts = Counter(s.participant for s in seats)
        twice = sorted(p for p, n in counts.items() if n > 1)
        if twice:
            raise RosterError(f"Participant {twice[0]!r} is given twice; give each one headset.")
        check_stall_timeout(timeout)
        self.session = check_label("session", session)
        self.protocol_source = protocol
        self.protocol = load_protocol(protocol).with_timing(task_seconds)
        self.task_seconds = task_seconds
        self.steps = self.protocol.schedule(self.session)
        self.timeout = timeout
        self.model = model
        from eeg4students.joined import JoinedHeadset  # it builds on Headset

        self.headsets = {
            seat.participant: (JoinedHeadset if is_join(seat.board) else Headset)(seat, self)
            for seat in seats
        }
        self.dataset = Dataset.create(dataset)
        for seat in seats:
            try:
                self.dataset.check_not_forgotten(seat.participant)
            except EEG4StudentsError as exc:
                raise RosterError(str(exc)) from exc
        self._lock = threading.RLock()
        self._publish = check_stream_name(publish) if publish else None
        self.outlet: MarkerOutlet | None = None
        # Recordings are read and built in parallel; each one's write holds the dataset's lock.
        self._saving = ThreadPoolExecutor(
            max_workers=SAVERS, thread_name_prefix="eeg4students-save"
        )
        self._stop = threading.Event()
        self.ticks = 0
        self.first_start: float | None = None

    # -- control -----------------------------------------------------------------

    def connect(self) -> None:
        """Connect every headset (those that fail are shown as ``failed``), then publish."""
        for headset in self.headsets.values():
            with self._lock:
                headset.connect()
        # Published once the headsets' streams are found (a search must not list it).
        if self._publish and self.outlet is None:
            self.outlet = MarkerOutlet(self._publish)

    def headset(self, participant: str) -> Headset:
        """The headset of a participant.

        Raises
        ------
        RosterError
            If the participant is not in this classroom.
        """
        try:
            return self.headsets[participant]
        except KeyError:
            raise RosterError(f"No participant {participant!r} in this classroom.") from None

    def start(self, participant: str | None = None) -> list[str]:
        """Start one participant's session, or every ready one; return who started."""
        now = time.monotonic()
        with self._lock:
            chosen = [self.headset(participant)] if participant else self.headsets.values()
            started = [h.seat.participant for h in chosen if h.start(now)]
            if started and self.first_start is None:
                self.first_start = now  # the class clock runs from the first Start
            return started

    def stop(self, participant: str | None = None) -> None:
        """Stop one participant's session, or all (stored with the interruption noted)."""
        with self._lock:
            chosen = [self.headset(participant)] if participant else self.headsets.values()
            for headset in chosen:
                headset.stop()

    def rehearse_contact(self, participant: str, loose: bool) -> list[str]:
        """Loosen a rehearsal headset's contact (the next channel not yet loose), or fix all.

        Returns
        -------
        loose : list of str
            The channels now loose.

        Raises
        ------
        RosterError
            If the participant is not here or the headset is not a synthetic one.
        """
        with self._lock:
            return self.headset(participant).rehearse_contact(loose)

    def restart(self, participant: str) -> bool:
        """Connect a stopped, dropped or failed headset again (True if it is connected).

        The connection is made outside the classroom's lock: a headset that
        takes seconds to pair does not hold up the others or the pages.
        """
        with self._lock:
            headset = self.headset(participant)
            if not headset.reset():
                return False
        headset.connect()  # ticks and snapshots leave a "connecting" headset alone
        return headset.state == "connected"

    def check(self, participant: str | None = None) -> None:
        """Judge the signal again now (it is judged every :data:`QUALITY_EVERY` s anyway)."""
        now = time.monotonic()
        with self._lock:
            chosen = [self.headset(participant)] if participant else self.headsets.values()
            for headset in chosen:
                headset.check(now)

    def model_for(self, board: str) -> SavedModel | None:
        """The model for a headset of this board (None: its tile shows no prediction)."""
        if not isinstance(self.model, dict):
            return self.model
        key = board.strip().lower()
        for name, saved in self.model.items():
            if name.strip().lower() == key:
                return saved
        return self.model.get("*")

    def publish(self, participant: str, task, edge: str) -> None:
        """Send a task's start or end on the marker stream (when there is one)."""
        if self.outlet is not None:
            self.outlet.push(f"sub-{participant}/task/{task.name}/{edge}")

    def save(self, headset: Headset, interruption: str | None) -> None:
        """Store a headset's recording in a saving thread (:data:`SAVERS` at once)."""
        self._saving.submit(self._save, headset, interruption)

    def _save(self, headset: Headset, interruption: str | None) -> None:
        try:
            headset._store(interruption)
        except Exception as exc:
            log.exception("saving %s failed", headset.seat.participant)
            with self._lock:
                headset.state = "interrupted"
                headset.message = f"saving failed ({first_line(exc)}); run `eeg4students recover`"

    # -- the loop ------------------------------------------------------------------

    def tick(self) -> None:
        """One round over the headsets."""
        for headset in self.headsets.values():
            # One headset at a time, so the pages' snapshots never wait for a whole round.
            with self._lock:
                try:
                    headset.tick(time.monotonic())
                except Exception as exc:  # one headset's fault must not stop the others
                    log.exception("the classroom failed on %s", headset.seat.participant)
                    if headset.state == "recording":
                        headset._finish(f"the classroom failed on it ({first_line(exc)})")
        self.ticks += 1

    def run(self, until: threading.Event | None = None) -> None:
        """Tick until :meth:`shutdown` (or ``until`` is set)."""
        while not self._stop.is_set() and not (until is not None and until.is_set()):
            started = time.monotonic()
            self.tick()
            self._stop.wait(max(0.0, TICK_SECONDS - (time.monotonic() - started)))

    @property
    def finished(self) -> bool:
        """True once no headset is waiting, connecting, connected, recording or saving."""
        return not {h.state for h in self.headsets.values()} & set(UNFINISHED)

    def shutdown(self) -> None:
        """Stop the loop, store recordings under way as interrupted, release the headsets."""
        self._stop.set()
        with self._lock:
            for headset in self.headsets.values():
                headset.close()
        self._saving.shutdown(wait=True)
        if self.outlet is not None:
            self.outlet.close()

    # -- what the pages show -------------------------------------------------------

    def snapshot(self) -> dict:
        """Every headset's state (JSON-ready)."""
        now = time.monotonic()
        with self._lock:
            return {
                "dataset": str(self.dataset.root),
                "session": self.session,
                "protocol": self.protocol.name,
                "order": list(self.protocol.order(self.session)),
                "headsets": (headsets := [h.snapshot(now) for h in self.headsets.values()]),
                "counts": dict(Counter(h["status"] for h in headsets)),
                "clock_s": None if self.first_start is None else round(now - self.first_start, 1),
                "time": time.time(),
            }

    def summary(self) -> list[dict]:
        """The end-of-session table: one row per headset (JSON- and CSV-ready).

        Returns
        -------
        rows : list of dict
            ``participant``, ``board``, ``status``, ``recording`` (the stored
            file, relative to the dataset; empty if none), ``interrupted``
            (the reason, empty if none), ``samples``, ``dropped``,
            ``share_kept`` (samples over samples and dropped ones, 0-1) and
            ``bad_channel_share`` (the share of channel checks while recording
            that were not ok, 0-1; empty before any).
        """
        rows = []
        with self._lock:
            for headset in self.headsets.values():
                samples, dropped = headset.counts
                status, _ = headset.status()
                judged, bad = headset.judged, headset.judged_bad
                rows.append(
                    {
                        "participant": headset.seat.participant,
                        "board": headset.seat.board,
                        "status": status,
                        "recording": headset.saved_path or "",
                        "interrupted": headset.message if headset.state == "interrupted" else "",
                        "samples": samples,
                        "dropped": dropped,
                        "share_kept": round(samples / (samples + dropped), 4) if samples else 0.0,
                        "bad_channel_share": round(bad / judged, 3) if judged else "",
                    }
                )
        return rows

    def cue(self, participant: str) -> dict:
        """One participant's cue (JSON-ready)."""
        now = time.monotonic()
        with self._lock:
            return self.headset(participant).cue(now)
