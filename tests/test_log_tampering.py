"""Tampering with the governance logs that used to pass `sleds audit --verify`, each caught now.

Each test builds both logs through the real append functions in a temporary SLEDS_HOME,
takes the head (what the committee notes down), tampers with the files by hand as an
attacker with write access would, and checks that verify_logs fails with a finding that
names the problem."""

import json

import pytest

from orchestration.lib.governance._jsonl import GENESIS, entry_hash
from orchestration.lib.governance.activity_log import activity_log_path, read_activity, record_activity
from orchestration.lib.governance.disclosure_log import append_disclosure, disclosure_log_path, verify_chain
from orchestration.lib.governance.log_heads import chain_heads, head_token, parse_head, verify_logs, write_head

MANIFEST = {"release": "sleds_release", "files": {"sleds_release.duckdb": "ab" * 32}}


def _disclose(n: int, start: int = 0) -> list[dict]:
    return [
        append_disclosure(
            kind="release",
            recipient="SLEDS research",
            release="sleds_release",
            manifest=MANIFEST,
            clauses=["28"],
            institutions=["1000214"],
            run_id=f"run-{start + i}",
        )  # fmt: skip
        for i in range(n)
    ]


@pytest.fixture()
def logs(sleds_home):
    """Three disclosures (and their witnesses) between other activity; the head written."""
    record_activity("build", {"partitions_loaded": 4})
    _disclose(2)
    record_activity("query", {"release": "sleds", "rows": 3})
    _disclose(1, start=2)
    record_activity("audit_verify", {"ok": True})
    head = write_head()
    assert head["verified"] and verify_logs(head=head["token"]).ok
    return head


def _lines(path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def _write(path, lines: list[str]) -> None:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def _rechain(entries: list[dict]) -> list[str]:
    """What an attacker who knows the format writes: a fresh, internally correct chain."""
    prev, out = GENESIS, []
    for seq, entry in enumerate(entries, start=1):
        entry = {**entry, "seq": seq, "prev_hash": prev}
        entry["hash"] = prev = entry_hash(entry)
        out.append(json.dumps(entry, sort_keys=True))
    return out


def _fails_with(result, *fragments: str) -> None:
    assert not result.ok, result
    text = "\n".join(result.findings)
    for fragment in fragments:
        assert fragment in text, (fragment, result.findings)


def test_a_trimming_both_logs_consistently(logs):
    disclosures, activity = disclosure_log_path(), activity_log_path()
    # cut disclosure 3 and everything in the activity log from its witness on
    _write(disclosures, _lines(disclosures)[:2])
    witness_3 = next(i for i, e in enumerate(read_activity()) if e["detail"].get("seq") == 3)
    _write(activity, _lines(activity)[:witness_3])
    activity_head = logs["activity"]["seq"]
    _fails_with(verify_logs(head=logs["token"]), "the head names disclosure entry 3, the log has 2 entries",
                f"the head names activity entry {activity_head}, the log has {witness_3} entries")  # fmt: skip
    # without a head given, the archived one is used, and says so
    automatic = verify_logs()
    _fails_with(automatic, "the latest archived head names disclosure entry 3")
    assert any("latest archived head" in note for note in automatic.notes)


def test_a_trimming_then_a_build_rewriting_head_json_is_caught_by_the_archive(logs):
    disclosures, activity = disclosure_log_path(), activity_log_path()
    _write(disclosures, _lines(disclosures)[:1])
    _write(activity, _lines(activity)[:2])  # the build, disclosure 1's witness
    later = write_head()  # the next build anchors what it finds...
    assert not later["verified"]
    # ...but the head it replaced is still in the archive
    result = verify_logs()
    _fails_with(result, "the archived head", "names disclosure entry 3, the log has 1 entries")
    assert not [f for f in result.findings if "latest archived head" in f]  # head.json itself agrees now


def test_b_deleting_both_logs(logs):
    disclosure_log_path().unlink()
    activity_log_path().unlink()
    _fails_with(verify_logs(head=logs["token"]), "the head names disclosure entry 3, the log has 0 entries",
                "the head names activity entry")  # fmt: skip
    _fails_with(verify_logs(), "the latest archived head names disclosure entry 3, the log has 0 entries")
    # and with the head files gone too: "no logs", never "intact"
    for head_file in (disclosure_log_path().parent / "heads").glob("*.json"):
        head_file.unlink()
    (disclosure_log_path().parent / "head.json").unlink()
    result = verify_logs()
    _fails_with(result, "no logs")
    assert result.counts["no_logs"] and "NO LOGS" in result.report_lines()[0]


def test_c_deleting_the_activity_log_then_rewriting_the_disclosure_chain(logs):
    disclosures = disclosure_log_path()
    entries = [json.loads(line) for line in _lines(disclosures)]
    entries[1]["recipient"] = "someone else"
    activity_log_path().unlink()
    _write(disclosures, _rechain(entries))
    # the chain itself is correct; no witness is left and the head disagrees
    result = verify_logs(head=logs["token"])
    _fails_with(result, "entry 1 has no witness in the activity log", "disclosure entry 3 differs from the head",
                "the head names activity entry")  # fmt: skip
    assert not [f for f in result.findings if "someone else" in f]  # findings never quote a value
    _fails_with(verify_logs(), "has no witness")  # even with no head at all
    # the witnesses forged too (a consistent rewrite of both logs): only a head can tell
    for entry in json.loads("[" + ",".join(_lines(disclosures)) + "]"):
        record_activity("disclosure_logged", {"seq": entry["seq"], "hash": entry["hash"]})
    (disclosures.parent / "head.json").unlink()
    for head_file in (disclosures.parent / "heads").glob("*.json"):
        head_file.unlink()
    assert verify_logs().ok
    _fails_with(verify_logs(head=logs["token"]), "disclosure entry 3 differs from the head")


@pytest.mark.parametrize("log", ["disclosure", "activity"])
def test_d_appending_a_forged_entry(logs, log):
    if log == "disclosure":
        path = disclosure_log_path()
        forged = json.loads(_lines(path)[-1])
        forged.update(seq=4, prev_hash=forged["hash"], recipient="someone else", run_id="run-x")  # the old hash kept
        expected = ("disclosure_log.jsonl line 4: entry 4 was altered", "entry 4 has no witness")
    else:
        path = activity_log_path()
        forged = {"at": "2024-01-01T00:00:00+00:00", "user": "admin", "action": "grant", "detail": {"role": "x"}}
        expected = (f"activity_log.jsonl line {len(_lines(path)) + 1}: an entry without seq and hash",)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(forged) + "\n")
    _fails_with(verify_logs(head=logs["token"]), *expected)
    _fails_with(verify_logs(), *expected)
    # the real log goes on after the forged line, which stays reported
    _disclose(1, start=9)
    _fails_with(verify_logs(head=logs["token"]), *expected)


@pytest.mark.parametrize(
    ("log", "edit", "rule"),
    [
        ("disclosure", lambda line: '{"recipient":"someone else",' + line[1:], "duplicate key 'recipient'"),
        ("activity", lambda line: line.replace('"detail":{', '"detail":{"rows":NaN,'), "NaN is not a JSON number"),
        ("activity", lambda line: line.replace('"detail":{', '"detail":{"n":Infinity,'), "Infinity is not"),
        ("activity", lambda line: line.replace('"detail":{', '"detail":{"n":1e999,'), "a number out of range"),
    ],
)
def test_e_a_duplicate_key_or_a_non_finite_number_is_refused(logs, log, edit, rule):
    path = disclosure_log_path() if log == "disclosure" else activity_log_path()
    lines = _lines(path)
    lines[1] = edit(lines[1])
    _write(path, lines)
    if log == "disclosure":  # json.loads keeps the last key: the old check saw an intact entry
        assert json.loads(lines[1])["recipient"] == "SLEDS research"
    result = verify_logs(head=logs["token"])
    _fails_with(result, f"{path.name} line 2: refused by strict JSON: {rule}")
    assert not [f for f in result.findings if "someone else" in f]


@pytest.mark.parametrize("how", ["a field changed", "an entry removed", "two entries swapped"])
def test_f_any_edit_of_the_activity_log(logs, how):
    path = activity_log_path()
    lines = _lines(path)
    query = next(i for i, line in enumerate(lines) if '"action":"query"' in line)
    if how == "a field changed":
        lines[query] = lines[query].replace('"rows":3', '"rows":30')
        expected = f"line {query + 1}: entry {query + 1} was altered"
    elif how == "an entry removed":
        del lines[query]
        expected = f"line {query + 1}: seq {query + 2} where {query + 1} was due"
    else:
        lines[query], lines[query + 1] = lines[query + 1], lines[query]
        expected = f"line {query + 1}: seq {query + 2} where {query + 1} was due"
    _write(path, lines)
    _fails_with(verify_logs(head=logs["token"]), expected)
    _fails_with(verify_logs(), expected)


def test_an_untouched_log_with_entries_after_the_head_verifies_and_counts_them(logs):
    _disclose(2, start=5)
    record_activity("query", {"release": "sleds", "rows": 1})
    for head in (logs["token"], logs, disclosure_log_path().parent / "head.json"):
        result = verify_logs(head=head)
        assert result.ok, result.findings
        assert result.counts["new_since_head"] == {"disclosure": 2, "activity": 3}  # 2 witnesses and the query
        assert "since the head: 2 new disclosure entries, 3 new activity entries" in result.notes
    printed = result.report_lines()
    assert printed[0] == f"disclosure log intact: 5 entries, head {result.heads['disclosure']['hash']}"
    assert printed[1].startswith("activity log intact: 9 entries, head ")
    assert printed[-1].endswith(result.token) and result.token == head_token(chain_heads())
    assert verify_chain().ok


def test_the_head_token_is_pasteable_and_round_trips(logs):
    token = logs["token"]
    assert token == head_token(chain_heads())
    assert token.startswith("d3-") and ".a6-" in token and len(token) == len("d3-.a6-") + 2 * 64
    assert all(c.isalnum() or c in "-." for c in token)
    assert parse_head(token) == {"disclosure": logs["disclosure"], "activity": logs["activity"]}
    archived = list((disclosure_log_path().parent / "heads").glob("*.json"))
    assert len(archived) == 1 and json.loads(archived[0].read_text())["token"] == token
    _fails_with(verify_logs(head="d3-nothex"), "the head given cannot be used")


def test_an_older_unchained_activity_log_is_sealed_not_trusted(sleds_home):
    path = activity_log_path()
    path.parent.mkdir(parents=True)
    old = [{"at": "2024-01-01T00:00:00+00:00", "user": "u", "action": "build", "detail": {"n": i}} for i in range(2)]
    _write(path, [json.dumps(e, sort_keys=True) for e in old])
    _fails_with(verify_logs(), "2 legacy unchained entries and no chained entry sealing them")
    record_activity("query", {"rows": 1})  # the first chained entry seals them
    sealed = verify_logs()
    assert sealed.ok and sealed.counts["legacy_activity"] == 2 and sealed.counts["activity"] == 1
    assert any("2 legacy unchained entries before seq 1" in note for note in sealed.notes)
    assert [e["action"] for e in read_activity()] == ["build", "build", "query"]
    lines = _lines(path)
    lines[0] = lines[0].replace('"n": 0', '"n": 7')
    _write(path, lines)
    _fails_with(verify_logs(), "the 2 legacy entries before seq 1 are not the 2 entry 1 sealed")


def test_a_line_cut_by_a_crash_is_reported_and_the_next_entry_stays_whole(sleds_home):
    record_activity("build", {"n": 1})
    with activity_log_path().open("a", encoding="utf-8") as handle:
        handle.write('{"action":"qu')  # a kill in the middle of a write
    entry = record_activity("query", {"rows": 1})
    assert entry["seq"] == 2
    result = verify_logs()
    _fails_with(result, "activity_log.jsonl line 2: refused by strict JSON: not valid JSON")
    assert len(result.findings) == 1 and read_activity()[-1]["seq"] == 2


def test_the_printed_verdict_names_the_first_bad_entry(logs):
    path = disclosure_log_path()
    lines = _lines(path)
    entry = json.loads(lines[1])
    entry["institutions"] = []
    lines[1] = json.dumps(entry)
    _write(path, lines)
    printed = "\n".join(verify_logs().report_lines())
    assert "LOGS TAMPERED: 1 finding(s) (first bad entry: 2)" in printed
    assert "disclosure_log.jsonl line 2: entry 2 was altered" in printed and "do not note it down" in printed


def test_a_malformed_witness_is_named_by_its_line(logs):
    record_activity("disclosure_logged", {"seq": "three"})
    line = len(_lines(activity_log_path()))
    _fails_with(verify_logs(), f"activity_log.jsonl line {line}: a disclosure witness without a seq and hash")
