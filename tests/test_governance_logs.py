"""Disclosure log (append-only, hash-chained) and activity log."""

import json
import threading

from orchestration.lib.governance.activity_log import read_activity, record_activity
from orchestration.lib.governance.disclosure_log import (
    GENESIS,
    append_disclosure,
    disclosure_log_path,
    disclosures_by_institution,
    entry_hash,
    read_disclosures,
    verify_chain,
)

MANIFEST = {"release": "sleds_release", "files": {"sleds_release.duckdb": "ab" * 32}, "tables": {"t": 3}}


def _append(home, n=1, **kw):
    out = []
    for i in range(n):
        args = dict(kind="release", recipient="SLEDS research", release="sleds_release", manifest=MANIFEST,
                    clauses=["9(c)(vi)", "28"], institutions=["1000214", "1000297"], run_id=f"run-{i}")  # fmt: skip
        args.update(kw)
        out.append(append_disclosure(home=home, **args))
    return out


def test_entries_are_chained_and_verify(tmp_path, monkeypatch):
    monkeypatch.setenv("SLEDS_USER", "analyst.a")
    entries = _append(tmp_path, 3)
    assert [e["seq"] for e in entries] == [1, 2, 3]
    assert entries[0]["prev_hash"] == GENESIS
    assert entries[1]["prev_hash"] == entries[0]["hash"] and entries[2]["prev_hash"] == entries[1]["hash"]
    first = entries[0]
    assert first["user"] == "analyst.a" and first["kind"] == "release" and first["files"] == MANIFEST["files"]
    assert set(first) == {"seq", "at", "user", "kind", "recipient", "release", "manifest_sha256", "files", "clauses",
                          "institutions", "run_id", "prev_hash", "hash"}  # fmt: skip
    assert entry_hash(first) == first["hash"]
    result = verify_chain(tmp_path)
    assert result.ok and result.entries == 3 and result.first_bad is None and result.head_hash == entries[2]["hash"]
    assert read_disclosures(tmp_path) == entries


def test_no_logs_is_reported_as_such_not_as_intact(tmp_path):
    result = verify_chain(tmp_path)
    assert not result.ok and result.entries == 0 and result.problem.startswith("no logs")


def test_an_empty_disclosure_log_with_activity_verifies(tmp_path):
    record_activity("query", {"rows": 1}, home=tmp_path)
    result = verify_chain(tmp_path)
    assert result.ok and result.entries == 0


def test_bad_kind_refused(tmp_path):
    import pytest

    with pytest.raises(ValueError, match="kind"):
        _append(tmp_path, kind="leak")


def _rewrite(home, change):
    path = disclosure_log_path(home)
    lines = path.read_text().splitlines()
    lines = change(lines)
    path.write_text("".join(line + "\n" for line in lines))


def test_tampered_field_detected(tmp_path):
    _append(tmp_path, 3)

    def edit(lines):
        entry = json.loads(lines[1])
        entry["recipient"] = "someone else"
        lines[1] = json.dumps(entry)
        return lines

    _rewrite(tmp_path, edit)
    result = verify_chain(tmp_path)
    assert not result.ok and result.first_bad == 2 and "altered" in result.problem


def test_rehashed_entry_detected_by_the_next(tmp_path):
    _append(tmp_path, 3)

    def edit(lines):
        entry = json.loads(lines[0])
        entry["clauses"] = []
        entry["hash"] = entry_hash(entry)
        lines[0] = json.dumps(entry)
        return lines

    _rewrite(tmp_path, edit)
    result = verify_chain(tmp_path)
    assert not result.ok and result.first_bad == 2 and "prev_hash" in result.problem


def test_removed_entry_and_truncation_detected(tmp_path):
    _append(tmp_path, 3)
    _rewrite(tmp_path, lambda lines: [lines[0], lines[2]])
    result = verify_chain(tmp_path)
    assert not result.ok and result.first_bad == 2

    other = tmp_path / "other"
    _append(other, 3)
    _rewrite(other, lambda lines: lines[:2])  # the chain itself is intact; the witness is not
    result = verify_chain(other)
    assert not result.ok and "missing" in result.problem


def test_whole_chain_rewritten_detected_by_witness(tmp_path):
    _append(tmp_path, 2)

    def rewrite(lines):
        prev, out = GENESIS, []
        for line in lines:
            entry = json.loads(line)
            entry["recipient"] = "rewritten"
            entry["prev_hash"] = prev
            entry["hash"] = entry_hash(entry)
            prev = entry["hash"]
            out.append(json.dumps(entry))
        return out

    _rewrite(tmp_path, rewrite)
    result = verify_chain(tmp_path)
    assert not result.ok and result.first_bad == 1 and "rewritten" in result.problem


def test_concurrent_appends_keep_one_chain(tmp_path):
    threads = [threading.Thread(target=_append, args=(tmp_path, 5)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    result = verify_chain(tmp_path)
    assert result.ok and result.entries == 20


def test_disclosures_by_institution(tmp_path):
    _append(tmp_path, 1)
    _append(tmp_path, 1, kind="extract", recipient="project:p1", institutions=["1000214"], clauses=["9(c)(iii)"])
    record = disclosures_by_institution(tmp_path)
    assert set(record) == {"1000214", "1000297"}
    assert [r["kind"] for r in record["1000214"]] == ["release", "extract"]
    assert record["1000214"][1]["recipient"] == "project:p1" and record["1000214"][1]["clauses"] == ["9(c)(iii)"]
    assert len(record["1000214"][0]["date"]) == 10


def test_activity_log(tmp_path, monkeypatch):
    monkeypatch.delenv("SLEDS_USER", raising=False)
    monkeypatch.setenv("USER", "steward.b")
    record_activity("query", {"release": "sleds", "rows": 3}, home=tmp_path)
    entries = read_activity(tmp_path)
    assert entries[-1]["user"] == "steward.b" and entries[-1]["action"] == "query"
    assert entries[-1]["detail"] == {"release": "sleds", "rows": 3} and entries[-1]["at"].endswith("+00:00")
    # chained like the disclosure log
    record_activity("build", {"partitions_loaded": 2}, home=tmp_path)
    first, second = read_activity(tmp_path)
    assert (first["seq"], second["seq"]) == (1, 2) and first["prev_hash"] == GENESIS
    assert second["prev_hash"] == first["hash"] and entry_hash(second) == second["hash"]


def test_sleds_audit_verify_detects_tampering(tmp_path, monkeypatch, capsys):
    from orchestration.cli import main

    monkeypatch.setenv("SLEDS_HOME", str(tmp_path))
    _append(tmp_path, 3)
    assert main(["audit", "--verify"]) == 0
    assert "intact: 3 entries" in capsys.readouterr().out

    def edit(lines):
        entry = json.loads(lines[1])
        entry["institutions"] = ["1000214"]  # hide one institution's disclosure
        lines[1] = json.dumps(entry, sort_keys=True, separators=(",", ":"))
        return lines

    _rewrite(tmp_path, edit)
    assert main(["audit", "--verify"]) == 1
    out = capsys.readouterr().out
    assert "TAMPERED" in out and "entry 2 was altered" in out and "first bad entry: 2" in out
