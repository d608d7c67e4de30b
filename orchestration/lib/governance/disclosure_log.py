"""The disclosure log: every release, publication and extract that leaves the agency,
one JSON line each in `SLEDS_HOME/governance/disclosure_log.jsonl` (agreement: "every
disclosure is recorded"; FERPA 34 CFR 99.32 asks for a record of each disclosure).

Append-only and hash-chained: each entry carries `prev_hash` (the previous entry's
`hash`; 64 zeros for the first) and `hash` = SHA-256 over the canonical JSON of the
entry without `hash`. Changing, removing or reordering an entry breaks the chain at
that entry, which `verify_chain` (and `sleds audit --verify`) reports. Each append also
leaves a witness (seq and hash) in the activity log, so cutting entries off the end or
rewriting the whole chain from some entry on is detected too, unless both logs are
rewritten; the report prints the head hash for the committee to note down."""

import json
from dataclasses import dataclass
from pathlib import Path

from orchestration.lib.governance._jsonl import (
    current_user,
    governance_dir,
    last_line,
    locked_append,
    read_lines,
    utc_now,
)
from orchestration.lib.storage import canonical_json, sha256_json

DISCLOSURE_FILE = "disclosure_log.jsonl"
KINDS = ("release", "publication", "extract")
GENESIS = "0" * 64
WITNESS_ACTION = "disclosure_logged"


def disclosure_log_path(home: Path | None = None) -> Path:
    return governance_dir(home) / DISCLOSURE_FILE


def manifest_sha256(manifest: dict) -> str:
    return sha256_json(manifest)


def entry_hash(entry: dict) -> str:
    return sha256_json({k: v for k, v in entry.items() if k != "hash"})


def append_disclosure(
    *,
    kind: str,
    recipient: str,
    release: str,
    manifest: dict,
    clauses: list[str],
    institutions: list[str],
    run_id: str,
    home: Path | None = None,
    changes: dict | None = None,
) -> dict:
    """Record one disclosure; returns the entry written (with seq and hash). `changes`:
    what differs from the recipient's previous copy (releases/content.py), when known."""
    if kind not in KINDS:
        raise ValueError(f"disclosure kind {kind!r} is not one of {', '.join(KINDS)}")
    if not recipient:
        raise ValueError("a disclosure needs a recipient")
    path = disclosure_log_path(home)
    with locked_append(path) as handle:
        last = last_line(path)
        if last:
            previous = json.loads(last)
            seq, prev_hash = int(previous["seq"]) + 1, previous["hash"]
        else:
            seq, prev_hash = 1, GENESIS
        entry = {
            "seq": seq,
            "at": utc_now(),
            "user": current_user(),
            "kind": kind,
            "recipient": recipient,
            "release": release,
            "manifest_sha256": manifest_sha256(manifest),
            "files": dict(manifest.get("files") or {}),
            "clauses": list(clauses),
            "institutions": sorted(set(institutions)),
            "run_id": run_id,
            "prev_hash": prev_hash,
        }
        if manifest.get("content_sha256"):
            entry["content_sha256"] = manifest["content_sha256"]
        if changes is not None:
            entry["changes"] = changes
        entry["hash"] = entry_hash(entry)
        handle.write(canonical_json(entry).decode("utf-8") + "\n")
    # the witness: outside the lock of this log, inside the activity log's own
    from orchestration.lib.governance.activity_log import record_activity

    record_activity(
        WITNESS_ACTION,
        {"seq": seq, "hash": entry["hash"], "kind": kind, "recipient": recipient, "release": release},
        home=home,
    )
    return entry


def read_disclosures(home: Path | None = None) -> list[dict]:
    """Every entry that parses, oldest first (use verify_chain to know they are intact)."""
    out = []
    for line in read_lines(disclosure_log_path(home)):
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out


def latest_disclosure(home: Path | None = None, **fields) -> dict | None:
    """The latest entry whose fields have the given values, e.g. the one that disclosed this
    very manifest (`release=..., recipient=..., manifest_sha256=...`)."""
    return next((e for e in reversed(read_disclosures(home)) if all(e.get(k) == v for k, v in fields.items())), None)


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    entries: int
    first_bad: int | None
    problem: str
    head_hash: str = GENESIS


def verify_chain(home: Path | None = None) -> VerifyResult:
    """Recompute the chain: every line parses, seq runs 1, 2, ..., each prev_hash is the
    previous hash, each hash matches the entry; then every witness in the activity log
    names an entry with that hash. `first_bad` is the 1-based line (= seq) of the first
    entry that fails."""
    lines = read_lines(disclosure_log_path(home))
    prev = GENESIS
    hashes: dict[int, str] = {}
    for n, line in enumerate(lines, start=1):
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            return VerifyResult(False, len(lines), n, f"entry {n} is not valid JSON", prev)
        if not isinstance(entry, dict) or "hash" not in entry:
            return VerifyResult(False, len(lines), n, f"entry {n} has no hash", prev)
        if entry.get("seq") != n:
            return VerifyResult(False, len(lines), n, f"entry {n} has seq {entry.get('seq')!r} (removed or reordered)",
                                prev)  # fmt: skip
        if entry.get("prev_hash") != prev:
            return VerifyResult(False, len(lines), n, f"entry {n}: prev_hash does not match entry {n - 1}'s hash", prev)
        if entry_hash(entry) != entry["hash"]:
            return VerifyResult(False, len(lines), n, f"entry {n} was altered: its content does not match its hash",
                                prev)  # fmt: skip
        prev = entry["hash"]
        hashes[n] = prev
    from orchestration.lib.governance.activity_log import read_activity

    for witness in read_activity(home):
        if witness.get("action") != WITNESS_ACTION:
            continue
        detail = witness.get("detail") or {}
        seq = detail.get("seq")
        if seq not in hashes:
            return VerifyResult(False, len(lines), len(lines) + 1 if isinstance(seq, int) else None,
                                f"the activity log witnessed disclosure {seq} ({detail.get('hash', '')[:12]}...), "
                                "which is missing from the disclosure log (entries cut off)", prev)  # fmt: skip
        if hashes[seq] != detail.get("hash"):
            return VerifyResult(False, len(lines), seq, f"entry {seq} differs from the hash the activity log "
                                "witnessed when it was written (chain rewritten)", prev)  # fmt: skip
    return VerifyResult(True, len(lines), None, "", prev)


def disclosures_by_institution(home: Path | None = None) -> dict[str, list[dict]]:
    """The record of disclosures kept per institution (34 CFR 99.32 style): for every
    institution whose data left, each disclosure's date, recipient, release, kind, the
    clauses relied on, and the entry's seq and manifest hash."""
    out: dict[str, list[dict]] = {}
    for entry in read_disclosures(home):
        record = {
            "seq": entry.get("seq"),
            "date": str(entry.get("at", ""))[:10],
            "at": entry.get("at"),
            "kind": entry.get("kind"),
            "recipient": entry.get("recipient"),
            "release": entry.get("release"),
            "clauses": entry.get("clauses", []),
            "manifest_sha256": entry.get("manifest_sha256"),
            "user": entry.get("user"),
        }
        for code in entry.get("institutions", []):
            out.setdefault(code, []).append(record)
    return dict(sorted(out.items()))
