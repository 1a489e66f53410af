"""The forgetting audit log: append-only, each entry hash-chained to the previous one.

One JSON object per line in ``derivatives/eeg4students/audit/forget-log.jsonl``.
Every entry carries ``prev`` (the previous entry's hash, ``"0" * 64`` for the
first) and ``hash``, the SHA-256 of the entry's canonical JSON without its
own ``hash`` and ``mac``. Editing, removing or reordering an entry breaks
the chain, which :func:`verify` reports with the line number. The log never
holds EEG data: labels, file names, digests, settings and metrics only.

A chain alone cannot show that its *last* entries were removed, or that the
whole log was rewritten with the hashes recomputed. Three things can:

- the **head** (the last entry's hash), printed by ``forget``: kept outside
  the dataset (a lab notebook, an e-mail), it is checked by
  ``audit verify --head HASH``;
- a **key** kept outside the dataset (``audit key FILE``): ``forget --key``
  adds an HMAC of every entry's hash, which no one without the key can
  recompute; ``audit verify --key`` checks every entry has a valid one;
- the **model cards**: every model updated by a forgetting notes the entry's
  sequence number and hash, so a log missing that entry, or holding another
  one in its place, does not verify.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import stat
from datetime import UTC, datetime
from pathlib import Path

from eeg4students._files import atomic_write_text, locked
from eeg4students.errors import EEG4StudentsError
from eeg4students.store import AUDIT_LOG, audit_entries

GENESIS = "0" * 64
AUDIT_PATH = AUDIT_LOG
MODELS_PATH = Path("derivatives") / "eeg4students" / "models"
#: Bytes of a key made by :func:`new_key`.
KEY_BYTES = 32


class AuditError(EEG4StudentsError):
    """The audit log is missing, unreadable or has been tampered with."""


def _digest(entry: dict) -> str:
    body = {k: v for k, v in entry.items() if k not in ("hash", "mac")}
    return hashlib.sha256(
        json.dumps(body, sort_keys=True, ensure_ascii=False).encode()
    ).hexdigest()


def _mac(key: bytes, digest: str) -> str:
    return hmac.new(key, digest.encode(), hashlib.sha256).hexdigest()


def audit_path(root: str | Path) -> Path:
    """The audit log of the dataset at ``root``."""
    return Path(root) / AUDIT_PATH


def new_key(path: str | Path, dataset: str | Path | None = None) -> Path:
    """Write a new random key for a keyed audit chain (readable by its owner only).

    Parameters
    ----------
    path : str | Path
        The key file to create; it must not exist, and must lie outside the
        dataset (a key beside the log protects nothing).
    dataset : str | Path | None
        The dataset it is meant for, to check the key is not inside it.

    Returns
    -------
    path : Path
    """
    path = Path(path)
    if path.exists():
        raise AuditError(f"{path} already exists; a key is never overwritten.")
    _outside_datasets(path, dataset)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(secrets.token_hex(KEY_BYTES) + "\n")
    return path


def _outside_datasets(path: Path, dataset: str | Path | None) -> None:
    """Refuse a key path inside ``dataset`` or inside any dataset (a key beside the log)."""
    where = path.resolve()
    if dataset is not None and Path(dataset).resolve() in where.parents:
        raise AuditError(f"{path} is inside the dataset; keep the key outside it.")
    for folder in where.parents:
        if (folder / "dataset_description.json").is_file():
            raise AuditError(
                f"{path} is inside the dataset {folder}; keep the key outside every dataset "
                "(a key beside the log it signs protects nothing)."
            )


def read_key(path: str | Path, dataset: str | Path | None = None) -> bytes:
    """Read a key made by :func:`new_key`.

    Raises
    ------
    AuditError
        If the file is missing, inside a dataset, readable by other users
        (it must be private: mode 600), or not a key.
    """
    path = Path(path)
    if not path.is_file():
        raise AuditError(f"{path}: no such key file; make one with `eeg4students audit key`.")
    _outside_datasets(path, dataset)
    if os.name == "posix" and path.stat().st_mode & 0o077:
        raise AuditError(
            f"{path} can be read by other users ({stat.filemode(path.stat().st_mode)}); make it "
            f"private with `chmod 600 {path}`, and make a new key if others may have read it."
        )
    if path.stat().st_size > 1024:
        raise AuditError(f"{path} does not hold a key made by `eeg4students audit key`.")
    text = path.read_text(encoding="utf-8", errors="replace").strip()
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) < 16:
        raise AuditError(f"{path} does not hold a key made by `eeg4students audit key`.")
    return key


def read_log(root: str | Path) -> list[dict]:
    """Every entry of a dataset's audit log, oldest first (empty if there is none).

    Raises
    ------
    AuditError
        If a line is not a JSON object.
    """
    return audit_entries(Path(root), error=AuditError)


def head(root: str | Path) -> str:
    """The chain's head: the last entry's hash (``GENESIS`` for an empty log)."""
    entries = read_log(root)
    return str(entries[-1].get("hash")) if entries else GENESIS


def _card_references(root: Path) -> list[tuple[str, int, str]]:
    """(model, audit seq, audit hash) noted on every model card that was forgotten from."""
    from eeg4students.errors import ModelError
    from eeg4students.modelstore import read_card

    found = []
    for card_file in sorted((root / MODELS_PATH).glob("*/card.json")):
        try:
            card = read_card(card_file)
        except ModelError:
            continue  # a damaged card is reported by the commands that use it
        for record in card.get("unlearning") or []:
            if isinstance(record, dict) and record.get("audit_seq") is not None:
                found.append((card["name"], record["audit_seq"], str(record.get("audit_hash"))))
    return found


def verify(root: str | Path, *, head_hash: str | None = None, key: bytes | None = None) -> int:
    """Check a dataset's audit log.

    Parameters
    ----------
    root : str | Path
        The dataset folder.
    head_hash : str | None
        The head kept outside the dataset: the log's last hash must equal it.
    key : bytes | None
        The chain's key: every entry must carry a valid HMAC.

    Returns
    -------
    n_entries : int
        How many entries verified.

    Raises
    ------
    AuditError
        Naming the first line whose content, link or HMAC does not match, a
        head that differs (entries removed at the end, or the log rewritten),
        or a model card noting an entry the log does not hold.
    """
    root = Path(root)
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
        if key is not None and not hmac.compare_digest(
            str(entry.get("mac", "")), _mac(key, entry["hash"])
        ):
            raise AuditError(
                f"{path}, line {number}: the entry's HMAC does not match the key; it was "
                "rewritten by someone without the key, or written without it."
            )
        previous = entry["hash"]
    if head_hash is not None and head_hash.strip().lower() != previous:
        where = f"ends at {previous[:16]}..." if entries else "is empty or missing"
        raise AuditError(
            f"{path} {where}, not at the head {head_hash.strip()[:16]}... you kept: entries "
            "were removed or the log was rewritten."
        )
    by_seq = {e["seq"]: e["hash"] for e in entries}
    for model, seq, digest in _card_references(root):
        if by_seq.get(seq) != digest:
            raise AuditError(
                f"{path}: model {model!r} was updated by forgetting entry {seq}, which the log "
                "does not hold as it was; the log was truncated, emptied or rewritten."
            )
    return len(entries)


def is_keyed(root: str | Path) -> bool:
    """Whether the chain's entries carry HMACs (made with ``forget --key``)."""
    return any("mac" in entry for entry in read_log(root))


def check_key(root: str | Path, key: bytes | None) -> None:
    """Refuse to go on without the key of a keyed chain, or with the wrong key.

    Parameters
    ----------
    root : str | Path
        The dataset folder.
    key : bytes | None
        The key given (``--key``), if any.

    Raises
    ------
    AuditError
        If the chain is keyed and no key was given (an entry without HMAC
        would make the chain fail ``audit verify --key`` for ever), or if the
        chain does not verify with the key given.
    """
    if key is None:
        if is_keyed(root):
            raise AuditError(
                f"The audit log of {root} is keyed (its entries carry HMACs); give the key "
                "with --key FILE, or nothing can be appended to it."
            )
        return
    verify(root, key=key)


def append(root: str | Path, record: dict, *, key: bytes | None = None) -> dict:
    """Append a record to the audit log, chained to the last entry.

    Parameters
    ----------
    root : str | Path
        The dataset folder.
    record : dict
        What to record (JSON-serialisable; no EEG data).
    key : bytes | None
        Key of a keyed chain: the entry gets an HMAC of its hash.

    Returns
    -------
    entry : dict
        The record with ``seq``, ``time``, ``prev``, ``hash`` (and ``mac``) added.

    Raises
    ------
    AuditError
        If the existing log does not verify, or it is keyed and no key is
        given: nothing is appended to a broken chain, nor an unsigned entry to
        a keyed one.
    """
    path = audit_path(root)
    with locked(path.parent / ".audit.lock"):
        check_key(root, key)
        verify(root, key=key)
        entries = read_log(root)
        entry = {
            "seq": len(entries) + 1,
            "time": datetime.now(UTC).isoformat(timespec="seconds"),
            **record,
            "prev": entries[-1]["hash"] if entries else GENESIS,
        }
        entry["hash"] = _digest(entry)
        if key is not None:
            entry["mac"] = _mac(key, entry["hash"])
        old = path.read_text(encoding="utf-8") if path.is_file() else ""
        line = json.dumps(entry, sort_keys=True, ensure_ascii=False)
        atomic_write_text(path, old + line + "\n")
    return entry
