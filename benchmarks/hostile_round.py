"""A round of hostile and broken inputs: how each case of tests/test_hostile_inputs.py ends.

Every case runs in its own process (a case that exhausts memory or crashes
the interpreter is counted, not fatal), against whichever ``eeg4students``
that process imports, so an older commit can be measured with the same
cases::

    .venv/bin/python benchmarks/hostile_round.py
    git worktree add /tmp/old e4cf970
    PYTHONPATH=/tmp/old .venv/bin/python benchmarks/hostile_round.py

Verdicts: ``clean error`` (the expected status, one ``eeg4students: error:``
line), ``traceback`` (an exception escaped the command), ``accepted`` (exit 0
on a bad input), ``unclear error`` (another status or several lines),
``crashed`` (the process died), ``memory blow-up`` (its processes together
held more than 64 processes or 4 GB), ``hung``; and whether the dataset the
case pointed at changed. Each case process is limited to 2 GB
of address space (``--memory-gb``) and 300 s.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run_one(cases: Path, name: str, template: Path, memory_gb: float = 2.0) -> dict:
    """Run one case in this process and describe how it ended (called in a child)."""
    import resource

    limit = int(memory_gb * 1024**3)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    sys.path.insert(0, str(cases))
    import test_hostile_inputs as hostile

    from eeg4students.cli import main

    tmp = Path(tempfile.mkdtemp())
    lab = tmp / "lab"
    shutil.copytree(template, lab)
    work = tmp / "work"
    work.mkdir()
    spec = hostile.CASES[name](work, lab)
    watched = {p: hostile.tree(p) for p in {lab, spec.watched} if p is not None}
    err = io.StringIO()
    verdict = None
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            status = main(spec.argv)
    except SystemExit as exit_:
        status = exit_.code
    except BaseException as exc:  # what escapes the command is what is measured
        verdict, status = f"traceback ({type(exc).__name__})", None
    lines = hostile.messages(err.getvalue())
    if verdict is None:
        one_line = len(lines) == 1 and lines[0].startswith("eeg4students: error:")
        if status == 0:
            verdict = "accepted"
        elif status == spec.status and (status == 2 or one_line):
            verdict = "clean error"
        else:
            verdict = f"unclear error (status {status}, {len(lines)} lines)"
    changed = any(hostile.tree(p) != content for p, content in watched.items())
    shutil.rmtree(tmp, ignore_errors=True)
    return {"case": name, "verdict": verdict, "dataset_changed": changed}


#: What a case's processes may hold together before it counts as a memory blow-up: a
#: per-process address-space limit does not stop a case that starts a thousand workers.
GROUP_PROCESSES, GROUP_RSS_BYTES = 64, 4 * 1024**3


def _group_usage(group: int) -> tuple[int, int]:
    """Processes and resident bytes of a process group, from /proc."""
    count = rss = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == group:  # pgrp
                count += 1
                rss += int(fields[21]) * os.sysconf("SC_PAGE_SIZE")  # rss pages
    return count, rss


def _child(cases: Path, name: str, template: Path, memory_gb: float) -> dict:
    command = [sys.executable, __file__, "--one", name, "--cases", str(cases)]
    command += ["--template", str(template), "--memory-gb", str(memory_gb)]
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + 300
    verdict = None
    while process.poll() is None:
        count, rss = _group_usage(process.pid)
        if count > GROUP_PROCESSES or rss > GROUP_RSS_BYTES:
            verdict = f"memory blow-up ({count} processes, {rss / 1e9:.1f} GB)"
        elif time.monotonic() > deadline:
            verdict = "hung (300 s)"
        if verdict:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            return {"case": name, "verdict": verdict, "dataset_changed": None}
        time.sleep(0.2)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # workers it left behind
    try:
        return json.loads(process.stdout.read().strip().splitlines()[-1])
    except (json.JSONDecodeError, IndexError):
        return {
            "case": name,
            "verdict": f"crashed (status {process.returncode})",
            "dataset_changed": None,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=Path, default=REPO / "tests", help="folder of the cases")
    parser.add_argument("--jobs", type=int, default=2, help="cases run at once")
    parser.add_argument(
        "--memory-gb", type=float, default=2.0, help="address space of each case's process"
    )
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--template", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.cases, args.one, args.template, args.memory_gb)))
        return
    sys.path.insert(0, str(args.cases))
    import test_hostile_inputs as hostile

    from eeg4students.simulate import simulate_to_dataset
    from eeg4students.training import train_model

    with tempfile.TemporaryDirectory() as tmp:
        template = Path(tmp) / "lab"
        simulate_to_dataset(template, 3, 1, seed=5, task_seconds=10, progress=False)
        train_model(template, "rf", "m", model_params={"n_estimators": 10}, progress=False)
        names = sorted(hostile.CASES)
        with ThreadPoolExecutor(args.jobs) as pool:
            results = list(
                pool.map(lambda n: _child(args.cases, n, template, args.memory_gb), names)
            )
    counts = collections.Counter(r["verdict"].split(" (")[0] for r in results)
    changed = [r["case"] for r in results if r["dataset_changed"]]
    for result in results:
        if result["verdict"] != "clean error" or result["dataset_changed"]:
            print(f"{result['verdict']:>28}  {result['case']}")
    print(
        f"{len(results)} cases: "
        + ", ".join(f"{n} {v}" for v, n in counts.most_common())
        + f"; {len(changed)} left the dataset changed"
    )


if __name__ == "__main__":
    main()
