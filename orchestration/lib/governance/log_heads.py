"""The heads of the two governance logs, and verifying both logs against a head.

A hash chain alone shows that no entry was changed in place; it cannot show that entries
were cut off the end, or that a whole log was deleted or rewritten from scratch with
correct hashes. A head can: the seq and hash of the last entry of each log, e.g.

    d12-5f0c...(64 hex).a340-ab12...(64 hex)

Any later state of honest logs still holds disclosure entry 12 and activity entry 340 with
exactly those hashes, and each hash covers everything before it. `write_head` (called at
the end of every build) writes the current head to SLEDS_HOME/governance/head.json and
archives it as governance/heads/<UTC time>.json. `verify_logs` checks both chains, strict
JSON, every disclosure's witness in the activity log (both ways) and, given a head (the
token, a dict, or a head file), that each log still holds the head's entry with the head's
hash. Without one it uses head.json and every archived head, and says so.

Someone who can rewrite the logs can rewrite or delete head.json and the archive too: the
files catch accidents and careless edits, not a determined insider. That is why the
committee copies the token into its minutes (or anywhere the log's writers cannot reach)
and verifies with `sleds audit --verify --head <token>`."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path

from orchestration.lib.governance._jsonl import (
    GENESIS,
    ChainRead,
    Finding,
    StrictJSONError,
    governance_dir,
    last_chained_entry,
    read_chain,
    strict_loads,
    utc_now,
    write_json_atomic,
)
from orchestration.lib.governance.activity_log import activity_log_path, legacy_seal
from orchestration.lib.governance.disclosure_log import WITNESS_ACTION, disclosure_log_path

LOGS = ("disclosure", "activity")
HEAD_FILE = "head.json"
HEADS_DIR = "heads"
_TOKEN = re.compile(r"^d(?P<dseq>\d+)-(?P<dhash>[0-9a-f]{64})\.a(?P<aseq>\d+)-(?P<ahash>[0-9a-f]{64})$")
_HASH = re.compile(r"^[0-9a-f]{64}$")


# ---------------------------------------------------------------- heads


def chain_heads(home: Path | None = None) -> dict:
    """{"disclosure": {"seq", "hash"}, "activity": {"seq", "hash"}}: each log's last chained
    entry, read from the end of the file (seq 0 and 64 zeros for a log with none)."""
    out = {}
    for log, path in _paths(home).items():
        last = last_chained_entry(path)
        out[log] = {"seq": last["seq"], "hash": last["hash"]} if last else {"seq": 0, "hash": GENESIS}
    return out


def head_token(heads: dict) -> str:
    """The printable form: d<seq>-<hash>.a<seq>-<hash>, full hashes, safe to paste in a shell."""
    d, a = heads["disclosure"], heads["activity"]
    return f"d{d['seq']}-{d['hash']}.a{a['seq']}-{a['hash']}"


def parse_head(head: str | Path | dict) -> dict:
    """A head as {"disclosure": {...}, "activity": {...}} from a token, a dict (a head file's
    content or chain_heads()) or the path of a head file. ValueError when it is none of them."""
    if isinstance(head, dict):
        return _checked_heads(head)
    text = str(head).strip()
    if match := _TOKEN.match(text):
        return {
            "disclosure": {"seq": int(match["dseq"]), "hash": match["dhash"]},
            "activity": {"seq": int(match["aseq"]), "hash": match["ahash"]},
        }
    path = Path(text).expanduser()
    if path.is_file():
        try:
            return _checked_heads(strict_loads(path.read_text(encoding="utf-8")))
        except (StrictJSONError, UnicodeDecodeError, OSError) as exc:
            raise ValueError(f"{path} is not a readable head file ({exc})") from None
    raise ValueError("not a head token (d<seq>-<hash>.a<seq>-<hash>) nor an existing head file")


def _checked_heads(doc) -> dict:
    if not isinstance(doc, dict):
        raise ValueError("a head is a JSON object with 'disclosure' and 'activity'")
    out = {}
    for log in LOGS:
        part = doc.get(log)
        seq, digest = (part.get("seq"), part.get("hash")) if isinstance(part, dict) else (None, None)
        if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0 or not _HASH.match(str(digest)):
            raise ValueError(f"the head's {log!r} part needs a seq (0 or more) and a 64-hex hash")
        out[log] = {"seq": seq, "hash": digest}
    return out


def write_head(home: Path | None = None) -> dict:
    """Verify both logs, then write their heads to governance/head.json (the latest) and
    governance/heads/<UTC time>.json (the archive), each whole or not at all. Returns the
    document written: at, token, disclosure, activity, verified (did the logs verify
    against the previous heads) and findings (how many failures)."""
    result = verify_logs(home)
    doc = {
        "at": utc_now(),
        "token": head_token(result.heads),
        **result.heads,
        "verified": result.ok,
        "findings": len(result.findings),
    }
    folder = governance_dir(home)
    write_json_atomic(_archive_path(folder / HEADS_DIR), doc)
    write_json_atomic(folder / HEAD_FILE, doc)
    return doc


def _archive_path(folder: Path) -> Path:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    path, n = folder / f"{stamp}.json", 1
    while path.exists():  # two heads in one microsecond: keep both
        path, n = folder / f"{stamp}-{n}.json", n + 1
    return path


# ---------------------------------------------------------------- verification


@dataclass
class LogsResult:
    """ok: no findings. findings: each failure, naming the file and line (or entry) and the
    rule broken, never a value from the line. notes: what was checked against what, legacy
    entries, entries new since the head. counts: entries per log, legacy activity entries,
    witnesses, and entries new since the head (None without one). heads: the logs' heads
    now. head_used: where the head checked came from (None: no head)."""

    ok: bool
    findings: list[str]
    counts: dict
    notes: list[str] = field(default_factory=list)
    heads: dict = field(default_factory=dict)
    head_used: str | None = None
    first_bad: int | None = None  # the disclosure log's first bad line or seq, for verify_chain

    @property
    def token(self) -> str:
        return head_token(self.heads)

    def report_lines(self) -> list[str]:
        """What `sleds audit --verify` prints: the verdict, each finding, the notes, the head."""
        counts, heads = self.counts, self.heads
        if self.ok:
            lines = [
                f"disclosure log intact: {counts['disclosure']} entries, head {heads['disclosure']['hash']}",
                f"activity log intact: {counts['activity']} entries, head {heads['activity']['hash']}",
            ]
        elif counts["no_logs"]:
            lines = [f"NO LOGS: {self.findings[0]}", *(f"  {f}" for f in self.findings[1:])]
        else:
            where = f" (first bad entry: {self.first_bad})" if self.first_bad is not None else ""
            lines = [f"LOGS TAMPERED: {len(self.findings)} finding(s){where}", *(f"  {f}" for f in self.findings)]
        lines += [f"  note: {n}" for n in self.notes]
        if self.ok:
            lines.append(f"head (note it down; verify later with --head): {self.token}")
        else:
            lines.append(f"head now (do not note it down: the logs do not verify): {self.token}")
        return lines


def verify_logs(home: Path | None = None, head: str | Path | dict | None = None) -> LogsResult:
    """Check both logs; with `head` (token, dict or head-file path) also that neither was cut
    below, deleted or rewritten up to it. Without `head`, governance/head.json and the
    archived heads are used when present (see the module docstring for why that is not
    enough on its own)."""
    paths = _paths(home)
    disclosure = read_chain(paths["disclosure"], "disclosure")
    activity = read_chain(paths["activity"], "activity", legacy_prefix=True)
    notes: list[str] = []
    findings: list[Finding] = [*disclosure.findings, *activity.findings]
    findings += _legacy_findings(activity, notes)
    witnesses, witness_findings = _witnesses(activity)
    findings += witness_findings + _witness_findings(disclosure, witnesses)
    reads = {"disclosure": disclosure, "activity": activity}
    head_findings, head_used, new = _head_findings(reads, head, governance_dir(home), notes)
    findings += head_findings
    no_logs = not any(p.exists() and p.stat().st_size for p in paths.values())
    if no_logs and not findings:
        findings.append(Finding(f"no logs: neither {paths['disclosure']} nor {paths['activity']} holds an entry "
                                "(deleted, or nothing was ever recorded); nothing to verify"))  # fmt: skip
    counts = {
        "disclosure": len(disclosure.entries),
        "activity": len(activity.entries),
        "legacy_activity": len(activity.legacy),
        "witnesses": sum(len(w) for w in witnesses.values()),
        "new_since_head": new,
        "no_logs": no_logs,
    }
    return LogsResult(
        ok=not findings,
        findings=[f.message for f in findings],
        counts=counts,
        notes=notes,
        heads={log: read.head for log, read in reads.items()},
        head_used=head_used,
        first_bad=_first_bad(findings),
    )


def _paths(home: Path | None) -> dict[str, Path]:
    return {"disclosure": disclosure_log_path(home), "activity": activity_log_path(home)}


def _legacy_findings(activity: ChainRead, notes: list[str]) -> list[Finding]:
    """The unchained lines an older version left before seq 1 must be exactly what entry 1
    sealed when this version first wrote to the log."""
    name, legacy = activity.path.name, [text for _, text in activity.legacy]
    first = activity.entries[0] if activity.entries else None
    seal = first.get("legacy") if first else None
    if not legacy:
        if isinstance(seal, dict) and seal.get("entries"):
            return [Finding(f"{name}: entry 1 seals {seal.get('entries')} legacy entries before it, "
                            "the log has none (removed)")]  # fmt: skip
        return []
    if first is None:
        return [Finding(f"{name}: {len(legacy)} legacy unchained entries and no chained entry sealing them "
                        "(a log from an older version: the next recorded action seals them)")]  # fmt: skip
    if seal is None:
        return [Finding(f"{name} lines {activity.legacy[0][0]}-{activity.legacy[-1][0]}: {len(legacy)} unchained "
                        f"entries before entry {first['seq']}, which does not seal them (added by hand)")]  # fmt: skip
    if seal != legacy_seal(legacy):
        return [Finding(f"{name}: the {len(legacy)} legacy entries before seq 1 are not the "
                        f"{seal.get('entries')} entry 1 sealed (changed, added or removed)")]  # fmt: skip
    notes.append(f"{name}: {len(legacy)} legacy unchained entries before seq 1, written by an older version; "
                 "sealed by entry 1, what they said before that cannot be verified")  # fmt: skip
    return []


def _witnesses(activity: ChainRead) -> tuple[dict[int, list[str]], list[Finding]]:
    """disclosure seq -> the hashes the activity log witnessed for it (legacy entries too)."""
    name, found, bad = activity.path.name, {}, []
    for line, entry in _activity_entries(activity):
        if entry.get("action") != WITNESS_ACTION:
            continue
        detail = entry.get("detail")
        seq = detail.get("seq") if isinstance(detail, dict) else None
        digest = detail.get("hash") if isinstance(detail, dict) else None
        if not isinstance(seq, int) or isinstance(seq, bool) or not isinstance(digest, str):
            bad.append(Finding(f"{name} line {line}: a disclosure witness without a seq and hash"))
            continue
        found.setdefault(seq, []).append(digest)
    return found, bad


def _activity_entries(activity: ChainRead):
    """(line, entry) for legacy entries that parse strictly, then every chained entry."""
    for line, text in activity.legacy:
        try:
            entry = strict_loads(text)
        except StrictJSONError:
            continue
        if isinstance(entry, dict):
            yield line, entry
    yield from zip(activity.entry_lines, activity.entries, strict=True)


def _witness_findings(disclosure: ChainRead, witnesses: dict[int, list[str]]) -> list[Finding]:
    """Every disclosure entry witnessed once with its own hash; no witness of an entry that is not there."""
    out = []

    def fail(seq: int, what: str) -> None:
        out.append(Finding(f"{disclosure.path.name}: {what}", seq=seq, log="disclosure"))

    for seq, digest in disclosure.hashes.items():
        seen = witnesses.get(seq, [])
        if not seen:
            fail(seq, f"entry {seq} has no witness in the activity log (added by hand, or the activity log was cut "
                 "or replaced)")  # fmt: skip
        elif any(w != digest for w in seen):
            fail(seq, f"entry {seq} differs from the hash the activity log witnessed when it was written "
                 "(chain rewritten)")  # fmt: skip
        elif len(seen) > 1:
            fail(seq, f"entry {seq} is witnessed {len(seen)} times (the log writes one)")
    for seq in sorted(set(witnesses) - set(disclosure.hashes)):
        fail(seq, f"the activity log witnessed entry {seq} ({witnesses[seq][0][:12]}...), which is missing from "
             "the disclosure log (entries cut off or removed)")  # fmt: skip
    return out


def _head_findings(reads: dict[str, ChainRead], head, folder: Path, notes: list[str]):
    """(findings, where the head came from, entries new since it per log)."""
    if head is not None:
        try:
            heads = parse_head(head)
        except ValueError as exc:
            return [Finding(f"the head given cannot be used: {exc}")], "given", None
        notes.append(f"checked against the head given, {head_token(heads)}")
        return _against(reads, heads, "the head"), head_token(heads), _new_since(reads, heads, notes)
    latest = folder / HEAD_FILE
    if not latest.exists():
        return [], None, None
    try:
        heads = parse_head(latest)
    except ValueError:
        return [Finding(f"{latest} is not a readable head (seq and hash per log)")], str(latest), None
    notes.append(f"checked against the latest archived head, {latest} ({head_token(heads)[:20]}...): whoever can "
                 "rewrite the logs can rewrite it too; verify with the head the committee keeps (--head)")  # fmt: skip
    found = _against(reads, heads, "the latest archived head")
    new = _new_since(reads, heads, notes)
    return found + _archive_findings(reads, folder / HEADS_DIR, skip_logs={f.log for f in found}), str(latest), new


def _against(reads: dict[str, ChainRead], heads: dict, which: str, skip: set | None = None) -> list[Finding]:
    """Each log still holds the head's entry, with the head's hash (logs in `skip` are not checked)."""
    out = []
    for log, read in reads.items():
        seq, digest = heads[log]["seq"], heads[log]["hash"]
        if seq == 0 or (skip and log in skip):
            continue
        have = read.hashes.get(seq)
        if have is None and seq > read.head["seq"]:
            what = f"{which} names {log} entry {seq}, the log has {len(read.entries)} entries (cut off or deleted)"
        elif have is None:
            what = f"{which} names {log} entry {seq}, which is missing from the log (removed)"
        elif have != digest:
            what = (f"{log} entry {seq} differs from {which}: the head has {digest[:12]}..., the log {have[:12]}... "
                    "(rewritten or replaced)")  # fmt: skip
        else:
            continue
        out.append(Finding(what, seq=seq, log=log))
    return out


def _new_since(reads: dict[str, ChainRead], heads: dict, notes: list[str]) -> dict[str, int]:
    new = {log: max(0, read.head["seq"] - heads[log]["seq"]) for log, read in reads.items()}
    notes.append(f"since the head: {new['disclosure']} new disclosure entries, {new['activity']} new activity entries")
    return new


def _archive_findings(reads: dict[str, ChainRead], archive: Path, skip_logs: set) -> list[Finding]:
    """The newest archived head a log no longer agrees with, for each log head.json did not
    already fail: catches head.json rewritten (or rewritten by a build) after the logs were."""
    if not archive.is_dir():
        return []
    out, failed = [], set(skip_logs)
    for path in sorted(archive.glob("*.json"), reverse=True):
        try:
            heads = parse_head(path)
        except ValueError:
            out.append(Finding(f"{path} is not a readable head (seq and hash per log)"))
            continue
        found = _against(reads, heads, f"the archived head {path.name}", skip=failed)
        failed |= {f.log for f in found}
        out += found
        if failed >= set(LOGS):
            break
    return out


def _first_bad(findings: list[Finding]) -> int | None:
    """The disclosure log's first bad line, else the first disclosure seq a finding names."""
    about = [f for f in findings if f.log == "disclosure"]
    lines = [f.line for f in about if f.line is not None]
    seqs = [f.seq for f in about if f.seq is not None]
    return (lines or seqs or [None])[0]
