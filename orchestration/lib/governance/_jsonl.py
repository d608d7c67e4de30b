"""Shared helpers for the append-only, hash-chained JSON-lines logs under SLEDS_HOME/governance.

A chained entry carries `seq` (1, 2, ...), `prev_hash` (the previous entry's `hash`; 64 zeros
for the first) and `hash` = SHA-256 over the canonical JSON (orchestration.lib.storage) of the
entry without `hash`. Lines are read strictly: a duplicate key, NaN or Infinity refuses the
line (json.loads would keep the last of two keys, so two readers could disagree on what an
entry says while its hash still matched one of them)."""

import datetime as dt
import fcntl
import getpass
import json
import math
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from orchestration.lib import paths
from orchestration.lib.storage import canonical_json, sha256_json

GENESIS = "0" * 64


def governance_dir(home: Path | None = None) -> Path:
    return (Path(home) if home is not None else paths.sleds_home()) / "governance"


def current_user() -> str:
    """Who is acting: SLEDS_USER (set by a service account or wrapper), else the login."""
    for var in ("SLEDS_USER", "USER", "LOGNAME"):
        value = os.environ.get(var)
        if value:
            return value
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def utc_now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")


# ---------------------------------------------------------------- strict JSON


class StrictJSONError(ValueError):
    """A line that is not strict JSON; the message names the rule, never a value."""


def _refuse_duplicate_keys(pairs: list[tuple[str, object]]) -> dict:
    out: dict = {}
    for key, value in pairs:
        if key in out:
            raise StrictJSONError(f"duplicate key {key!r}")
        out[key] = value
    return out


def _refuse_constant(name: str):
    raise StrictJSONError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999 parses to inf
        raise StrictJSONError("a number out of range (Infinity)")
    return value


def strict_loads(text: str):
    """json.loads that refuses duplicate keys, NaN, Infinity and out-of-range numbers."""
    try:
        return json.loads(
            text, object_pairs_hook=_refuse_duplicate_keys, parse_constant=_refuse_constant, parse_float=_finite_float
        )
    except json.JSONDecodeError as exc:
        raise StrictJSONError(f"not valid JSON ({exc.msg})") from None
    except RecursionError:
        raise StrictJSONError("nested too deep") from None


def strict_line(entry: dict) -> str:
    """The line an entry is written as: canonical JSON, refusing what strict reading would
    refuse (NaN, Infinity) and text that is not UTF-8 (lone surrogates)."""
    json.dumps(entry, allow_nan=False, default=str)  # raises ValueError on NaN/Infinity
    return canonical_json(entry).decode("utf-8")


def entry_hash(entry: dict) -> str:
    return sha256_json({k: v for k, v in entry.items() if k != "hash"})


def is_chained(entry) -> bool:
    return (
        isinstance(entry, dict)
        and isinstance(entry.get("seq"), int)
        and not isinstance(entry.get("seq"), bool)
        and isinstance(entry.get("hash"), str)
    )


# ---------------------------------------------------------------- files


def numbered_lines(path: Path) -> Iterator[tuple[int, str | None]]:
    """(1-based line number, text) of every line, blank ones included; text is None for a
    line that is not UTF-8."""
    if not path.exists():
        return
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                yield number, raw.decode("utf-8").rstrip("\n")
            except UnicodeDecodeError:
                yield number, None


def lines_from_end(path: Path, block: int = 4096) -> Iterator[bytes]:
    """The file's non-empty lines, last first, read backwards in blocks (an append needs
    only the last entry, not the whole log)."""
    if not path.exists():
        return
    with path.open("rb") as handle:
        pos = handle.seek(0, os.SEEK_END)
        rest = b""
        while pos > 0:
            step = min(block, pos)
            pos -= step
            handle.seek(pos)
            rest = handle.read(step) + rest
            *complete, rest = _split_keep_first(rest)
            for line in reversed(complete):
                if line.strip():
                    yield line
        if rest.strip():
            yield rest


def _split_keep_first(data: bytes) -> list[bytes]:
    """`data` split on newlines, the (possibly partial) first piece moved to the end, so
    that every piece but the last is a complete line."""
    pieces = data.split(b"\n")
    return [*pieces[1:], pieces[0]]


def last_chained_entry(path: Path) -> dict | None:
    """The last line that parses strictly as a chained entry, read from the end. Lines
    after it that do not (a crash's half line, a forged one) are skipped here and
    reported by verification; the chain goes on from the last real entry."""
    for raw in lines_from_end(path):
        try:
            entry = strict_loads(raw.decode("utf-8"))
        except (StrictJSONError, UnicodeDecodeError):
            continue
        if is_chained(entry):
            return entry
    return None


@contextmanager
def locked_append(path: Path) -> Iterator:
    """The log opened for appending under an exclusive lock (a sidecar `.lock` file, so
    readers never block); the caller writes whole lines, flushed and fsynced on exit."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lock_path = path.with_name(path.name + ".lock")
    with lock_path.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            with path.open("a", encoding="utf-8") as handle:
                if _ends_without_newline(path):  # a crash cut the last line: keep ours whole
                    handle.write("\n")
                yield handle
                handle.flush()
                os.fsync(handle.fileno())
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _ends_without_newline(path: Path) -> bool:
    with path.open("rb") as handle:
        if handle.seek(0, os.SEEK_END) == 0:
            return False
        handle.seek(-1, os.SEEK_END)
        return handle.read(1) != b"\n"


def append_chained(path: Path, make_entry: Callable[[int, str], dict]) -> dict:
    """Append one chained entry under the lock: `make_entry(seq, prev_hash)` returns its
    fields (called inside the lock, so it may read the log); `hash` is added here."""
    with locked_append(path) as handle:
        last = last_chained_entry(path)
        seq, prev_hash = (last["seq"] + 1, last["hash"]) if last else (1, GENESIS)
        entry = {**make_entry(seq, prev_hash), "seq": seq, "prev_hash": prev_hash}
        entry["hash"] = entry_hash(entry)
        handle.write(strict_line(entry) + "\n")
    return entry


def write_json_atomic(path: Path, doc: dict) -> None:
    """Write a JSON file whole or not at all: a `.partial` sibling renamed into place
    (a kill leaves the `.partial`, which `sleds doctor --repair` removes)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.partial")
    with tmp.open("w", encoding="utf-8") as handle:
        handle.write(json.dumps(doc, indent=2, sort_keys=True) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    tmp.replace(path)


# ---------------------------------------------------------------- reading a chain


@dataclass(frozen=True)
class Finding:
    """One verification failure: the message (file, line or entry, the rule broken), and
    which log, line and seq it is about when known."""

    message: str
    line: int | None = None
    seq: int | None = None
    log: str | None = None


@dataclass
class ChainRead:
    """One log read strictly, line by line: its chained entries in order, seq -> hash,
    an unchained prefix (legacy entries, activity log only) and what failed."""

    name: str
    path: Path
    entries: list[dict] = field(default_factory=list)
    entry_lines: list[int] = field(default_factory=list)  # the line each entry is on
    hashes: dict[int, str] = field(default_factory=dict)
    legacy: list[tuple[int, str]] = field(default_factory=list)  # (line number, text)
    findings: list[Finding] = field(default_factory=list)

    @property
    def head(self) -> dict:
        last = self.entries[-1] if self.entries else None
        return {"seq": last["seq"], "hash": last["hash"]} if last else {"seq": 0, "hash": GENESIS}

    def fail(self, line: int | None, message: str, seq: int | None = None) -> None:
        where = f"{self.path.name} line {line}: " if line is not None else f"{self.path.name}: "
        self.findings.append(Finding(where + message, line, seq, self.name))


def read_chain(path: Path, name: str, *, legacy_prefix: bool = False) -> ChainRead:
    """Read and check a chain: every line strict JSON, seq 1, 2, ... in order, each
    prev_hash the previous hash, each hash its entry's. With `legacy_prefix`, the lines
    before the first chained entry are kept as legacy, unparsed (the caller checks their
    seal); anywhere else an unchained line is a finding. The walk goes on after a failure,
    taking each entry's own seq and hash, so one edit gives one finding, not one per later
    entry."""
    read = ChainRead(name, path)
    expected_seq, prev_hash = 1, GENESIS
    for number, text in numbered_lines(path):
        if legacy_prefix and not read.entries and not _is_chained_line(text):
            if text is not None and text.strip():
                read.legacy.append((number, text))
            continue
        entry = _strict_entry(read, number, text)
        if entry is None:
            continue
        if not is_chained(entry):
            read.fail(number, "an entry without seq and hash (not written through the chain)")
            continue
        _check_link(read, number, entry, expected_seq, prev_hash)
        expected_seq, prev_hash = entry["seq"] + 1, entry["hash"]
        read.entries.append(entry)
        read.entry_lines.append(number)
        read.hashes.setdefault(entry["seq"], entry["hash"])
    return read


def _is_chained_line(text: str | None) -> bool:
    try:
        return text is not None and is_chained(strict_loads(text))
    except StrictJSONError:
        return False


def _strict_entry(read: ChainRead, number: int, text: str | None) -> dict | None:
    if text is None:
        read.fail(number, "not UTF-8 text")
        return None
    if not text.strip():
        read.fail(number, "a blank line (the log never writes one)")
        return None
    try:
        entry = strict_loads(text)
    except StrictJSONError as exc:
        read.fail(number, f"refused by strict JSON: {exc}")
        return None
    if not isinstance(entry, dict):
        read.fail(number, "not a JSON object")
        return None
    return entry


def _check_link(read: ChainRead, number: int, entry: dict, expected_seq: int, prev_hash: str) -> None:
    seq = entry["seq"]
    if seq in read.hashes:
        read.fail(number, f"entry {seq} appears twice (seq repeated)", seq)
    elif seq != expected_seq:
        read.fail(number, f"seq {seq} where {expected_seq} was due (entries removed, inserted or reordered)", seq)
    if entry.get("prev_hash") != prev_hash:
        previous = f"entry {expected_seq - 1}'s hash" if expected_seq > 1 else "the genesis hash (64 zeros)"
        read.fail(number, f"entry {seq}: prev_hash does not match {previous}", seq)
    try:
        altered = entry_hash(entry) != entry["hash"]
    except (UnicodeEncodeError, ValueError):
        altered = True
    if altered:
        read.fail(number, f"entry {seq} was altered: its content does not match its hash", seq)
