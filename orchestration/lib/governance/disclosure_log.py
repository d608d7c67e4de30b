"""The disclosure log: every release, publication and extract that leaves the agency,
one JSON line each in `SLEDS_HOME/governance/disclosure_log.jsonl` (agreement: "every
disclosure is recorded"; FERPA 34 CFR 99.32 asks for a record of each disclosure).

Append-only and hash-chained (orchestration/lib/governance/_jsonl.py): each entry carries
`seq`, `prev_hash` (the previous entry's `hash`; 64 zeros for the first) and `hash` =
SHA-256 over the canonical JSON of the entry without `hash`. Changing, removing or
reordering an entry breaks the chain at that entry. Each append also leaves a witness
(seq and hash) in the activity log, itself chained, and each build writes the heads of
both logs to SLEDS_HOME/governance/head.json (log_heads.write_head): the committee
archives that head token elsewhere, and `log_heads.verify_logs(head=...)` (`sleds audit
--verify --head H`) then detects cutting entries off the end or rewriting both logs too.
`verify_chain` is the older one-result view of the same verification."""

from dataclasses import dataclass
from pathlib import Path

from orchestration.lib.governance._jsonl import (
    GENESIS,
    StrictJSONError,
    append_chained,
    current_user,
    entry_hash,  # noqa: F401 (part of this module's API: the tests and older callers import it here)
    governance_dir,
    numbered_lines,
    strict_loads,
    utc_now,
)
from orchestration.lib.storage import sha256_json

DISCLOSURE_FILE = "disclosure_log.jsonl"
KINDS = ("release", "publication", "extract")
WITNESS_ACTION = "disclosure_logged"


def disclosure_log_path(home: Path | None = None) -> Path:
    return governance_dir(home) / DISCLOSURE_FILE


def manifest_sha256(manifest: dict) -> str:
    return sha256_json(manifest)


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

    def make_entry(seq: int, prev_hash: str) -> dict:  # seq, prev_hash and hash: append_chained's
        entry = {
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
        }
        if manifest.get("content_sha256"):
            entry["content_sha256"] = manifest["content_sha256"]
        if changes is not None:
            entry["changes"] = changes
        return entry

    entry = append_chained(disclosure_log_path(home), make_entry)
    seq = entry["seq"]
    # the witness: outside the lock of this log, inside the activity log's own (verification
    # matches witnesses by seq, so two disclosures' witnesses may land in either order)
    from orchestration.lib.governance.activity_log import record_activity

    record_activity(
        WITNESS_ACTION,
        {"seq": seq, "hash": entry["hash"], "kind": kind, "recipient": recipient, "release": release},
        home=home,
    )
    return entry


def read_disclosures(home: Path | None = None) -> list[dict]:
    """Every entry that parses as strict JSON, oldest first (use verify_chain to know they
    are intact)."""
    out = []
    for _, text in numbered_lines(disclosure_log_path(home)):
        try:
            entry = strict_loads(text) if text and text.strip() else None
        except StrictJSONError:
            continue
        if isinstance(entry, dict):
            out.append(entry)
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
    """`log_heads.verify_logs` (both chains, strict JSON, every witness both ways, the head
    in governance/head.json) as one result: `problem` is the first finding, `first_bad` the
    1-based line of the disclosure log (= seq) where it is, or the disclosure seq a witness
    names; None when the failure is elsewhere (the activity log, the head)."""
    from orchestration.lib.governance.log_heads import verify_logs

    result = verify_logs(home)
    head_hash = result.heads["disclosure"]["hash"]
    if result.ok:
        return VerifyResult(True, result.counts["disclosure"], None, "", head_hash)
    return VerifyResult(False, result.counts["disclosure"], result.first_bad, result.findings[0], head_hash)


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
