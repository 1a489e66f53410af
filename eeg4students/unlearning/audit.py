"""The forgetting audit log: append-only, each entry hash-chained to the previous one.

One JSON object per line in ``derivatives/eeg4students/audit/forget-log.jsonl``.
Every entry carries ``prev`` (the previous entry's hash, ``"0" * 64`` for the
first) and ``hash``, the SHA-256 of the entry's canonical JSON without its
own ``hash``. Editing, removing or reordering any entry breaks the chain,
which :func:`verify` reports with the line number. The log never holds EEG
data: labels, file names, digests, settings and metrics only.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

from eeg4students._files import atomic_write_text, locked
from eeg4students.errors import EEG4StudentsError

GENESIS = "0" * 64
AUDIT_PATH = Path("derivatives") / "eeg4students" / "audit" / "forget-log.jsonl"


class AuditError(EEG4StudentsError):
    """The audit log is missing, unreadable or has been tampered with."""


def _digest(entry: dict) -> str:
    body = {k: v for k, v in entry.items() if k != "hash"}
    return hashlib.sha256(
        json.dumps(body, sort_keys=True, ensure_ascii=False).encode()
    ).hexdigest()


def audit_path(root: str | Path) -> Path:
    """The audit log of the dataset at ``root``."""
    return Path(root) / AUDIT_PATH


def read_log(root: str | Path) -> list[dict]:
    """Every entry of a dataset's audit log, oldest first (empty if there is none)."""
    path = audit_path(root)
    if not path.is_file():
        return []
    entries = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entries.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise AuditError(
                f"{path}, line {number}: not valid JSON; the log was edited."
            ) from exc
    return entries


def verify(root: str | Path) -> int:
    """Check the hash chain of a dataset's audit log.

    Parameters
    ----------
    root : str | Path
        The dataset folder.

    Returns
    -------
    n_entries : int
        How many entries verified.

    Raises
    ------
    AuditError
        Naming the first line whose content or link does not match.
    """
    path = audit_path(root)
    previous = GENESIS
    entries = read_log(root)
    for number, entry in enumerate(entries, start=1):
        if entry.get("prev") != previous:
            raise AuditError(
                f"{path}, line {number}: the link to the previous entry is broken; an entry "
                "was removed, reordered or edited."
            )
        if entry.get("hash") != _digest(entry):
            raise AuditError(
                f"{path}, line {number}: the entry does not match its hash; it was edited."
            )
        if entry.get("seq") != number:
            raise AuditError(
                f"{path}, line {number}: sequence number {entry.get('seq')} is wrong."
            )
        previous = entry["hash"]
    return len(entries)


def append(root: str | Path, record: dict) -> dict:
    """Append a record to the audit log, chained to the last entry.

    Parameters
    ----------
    root : str | Path
        The dataset folder.
    record : dict
        What to record (JSON-serialisable; no EEG data).

    Returns
    -------
    entry : dict
        The record with ``seq``, ``time``, ``prev`` and ``hash`` added.

    Raises
    ------
    AuditError
        If the existing log does not verify: nothing is appended to a broken chain.
    """
    path = audit_path(root)
    with locked(path.parent / ".audit.lock"):
        verify(root)
        entries = read_log(root)
        entry = {
            "seq": len(entries) + 1,
            "time": datetime.now(UTC).isoformat(timespec="seconds"),
            **record,
            "prev": entries[-1]["hash"] if entries else GENESIS,
        }
        entry["hash"] = _digest(entry)
        old = path.read_text(encoding="utf-8") if path.is_file() else ""
        line = json.dumps(entry, sort_keys=True, ensure_ascii=False)
        atomic_write_text(path, old + line + "\n")
    return entry
