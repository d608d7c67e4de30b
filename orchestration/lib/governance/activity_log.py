"""The activity log (DOMAIN §5: audit logs of user activity - account management,
permission grants, report generation): one JSON line per action in
`SLEDS_HOME/governance/activity_log.jsonl` with who (SLEDS_USER, else the login), when
(UTC) and what. Append-only; the `sleds` command records build, query, extract and
audit, the governance stage records each registry load (counts of agreement statuses:
the permissions in force), and every disclosure leaves its witness here.

Hash-chained like the disclosure log (orchestration/lib/governance/_jsonl.py): `seq`,
`prev_hash`, `hash` over the canonical JSON of the entry without `hash`; appends take the
log's lock. `log_heads.verify_logs` checks the chain.

A log written by an older version holds unchained lines. They are kept where they are
and sealed, never rewritten: the first chained entry (seq 1) carries
`legacy: {entries: N, sha256: ...}` over the text of every line before it, so changing,
adding or removing one of them afterwards fails verification. What they said before the
seal cannot be verified: verification says so in a note ("N legacy unchained entries
before seq 1, sealed by entry 1") on every run; while no chained entry has sealed them
yet (an upgraded log no command has written to) it is a finding, and verification fails."""

from pathlib import Path

from orchestration.lib.governance._jsonl import (
    StrictJSONError,
    append_chained,
    current_user,
    governance_dir,
    numbered_lines,
    strict_loads,
    utc_now,
)
from orchestration.lib.storage import sha256_json

ACTIVITY_FILE = "activity_log.jsonl"


def activity_log_path(home: Path | None = None) -> Path:
    return governance_dir(home) / ACTIVITY_FILE


def record_activity(action: str, detail: dict, home: Path | None = None) -> dict:
    """Append one entry {seq, at, user, action, detail, prev_hash, hash}; returns it. Never
    pass data values or PII in `detail`: counts, names of tables, files and releases only.
    A detail holding NaN or Infinity is refused (ValueError): strict JSON could not read it."""
    path = activity_log_path(home)

    def make_entry(seq: int, prev_hash: str) -> dict:
        entry = {"at": utc_now(), "user": current_user(), "action": action, "detail": detail}
        if seq == 1 and (legacy := legacy_lines(path)):
            entry["legacy"] = legacy_seal(legacy)
        return entry

    return append_chained(path, make_entry)


def legacy_lines(path: Path) -> list[str]:
    """The text of the lines an older version wrote (before any chained entry): what the
    first chained entry seals. Called when no chained entry exists, so that is every line."""
    return [text for _, text in numbered_lines(path) if text is not None and text.strip()]


def legacy_seal(lines: list[str]) -> dict:
    return {"entries": len(lines), "sha256": sha256_json(lines)}


def read_activity(home: Path | None = None) -> list[dict]:
    """Every entry, oldest first: legacy (unchained) ones too. A line strict JSON refuses is
    returned as {'action': 'unreadable', 'detail': {'line': its line number}}; use
    log_heads.verify_logs to know the entries are intact."""
    out = []
    for number, text in numbered_lines(activity_log_path(home)):
        if text is not None and not text.strip():
            continue
        try:
            entry = strict_loads(text) if text is not None else None
        except StrictJSONError:
            entry = None
        out.append(entry if isinstance(entry, dict) else {"action": "unreadable", "detail": {"line": number}})
    return out
