"""A killed or interrupted build recovers by itself: the next build ends the dead run,
frees its warehouse slot, puts back what a cut swap left, and finishes as a clean build."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from orchestration.lib.leftovers import find_leftovers, repair
from orchestration.lib.process_owner import current_owner, owner_state
from tests.conftest import subprocess_env, venv_bin


def test_an_owner_is_alive_while_its_process_runs_and_gone_after():
    assert owner_state(current_owner()) == "alive"
    child = subprocess.Popen(["sleep", "30"])
    try:
        host = current_owner().rsplit(":", 2)[0]
        with open(f"/proc/{child.pid}/stat") as f:
            start = f.read().rsplit(")", 1)[1].split()[19]
        owner = f"{host}:{child.pid}:{start}"
        assert owner_state(owner) == "alive"
        # the same pid with another start time is another process: the build that had it is gone
        assert owner_state(f"{host}:{child.pid}:{int(start) + 1}") == "gone"
    finally:
        child.kill()
        child.wait()
    assert owner_state(owner) == "gone"
    assert owner_state(f"another-host:{os.getpid()}:1") == "unknown"
    assert owner_state("not an owner") == "unknown"


def test_an_interrupted_build_stops_every_process_below_it():
    """dbt runs in a child of the build: an interrupt must not leave it writing. (In a
    process of its own: in pytest's, it would also stop pytest's own helpers.)"""
    script = """
import os, subprocess, sys, time
from orchestration.lib.build_runner import descendants, stop_descendants
shell = subprocess.Popen(["sh", "-c", "trap '' TERM; sleep 60 & wait"])  # ignores SIGTERM, as a stuck child may
time.sleep(0.3)
below = descendants()
stop_descendants(grace_s=0.5)
shell.wait(timeout=5)
alive = lambda: [p for p in below if os.path.exists(f"/proc/{p}") and open(f"/proc/{p}/stat").read().split()[2] != "Z"]
deadline = time.monotonic() + 5  # a SIGKILL takes effect when the process is next scheduled
while alive() and time.monotonic() < deadline:
    time.sleep(0.05)
print(len(below), shell.pid in below, alive())
"""
    out = subprocess.run([sys.executable, "-c", script], env=subprocess_env(PYTHONPATH=str(Path.cwd())),
                         capture_output=True, text=True, timeout=60)  # fmt: skip
    count, has_shell, alive = out.stdout.split(" ", 2)
    assert int(count) >= 2 and has_shell == "True" and alive.strip() == "[]", out.stdout + out.stderr


def test_leftovers_are_put_back_or_removed_and_dagster_storage_is_left_alone(tmp_path):
    home = tmp_path / "home"
    releases = home / "releases"
    # a swap cut between its renames: the SLEDS release is missing, its old folder aside
    (releases / ".old-sleds-0123abcd").mkdir(parents=True)
    (releases / ".old-sleds-0123abcd" / "manifest.json").write_text("{}")
    (releases / ".staging-sleds-77" / "sleds").mkdir(parents=True)
    # a finished swap whose clean-up was cut
    (releases / "public").mkdir()
    (releases / ".old-public-89abcdef").mkdir()
    (home / "reports").mkdir()
    (home / "reports" / "build_steps.partial").write_text("{")
    (home / "tmp").mkdir()
    (home / "tmp" / "duckdb_temp_storage-0.tmp").write_bytes(b"x")
    (home / "dagster" / "storage").mkdir(parents=True)
    (home / "dagster" / "storage" / "x.partial").write_text("Dagster's own")
    found = find_leftovers(home)
    assert sorted((f.path.relative_to(home).as_posix(), f.action) for f in found) == [
        ("releases/.old-public-89abcdef", "remove"),
        ("releases/.old-sleds-0123abcd", "restore"),
        ("releases/.staging-sleds-77", "remove"),
        ("reports/build_steps.partial", "remove"),
        ("tmp/duckdb_temp_storage-0.tmp", "remove"),
    ]
    assert all(f.describe(home) for f in found)
    for leftover in found:
        repair(leftover)
    assert (releases / "sleds" / "manifest.json").read_text() == "{}"
    assert sorted(p.name for p in releases.iterdir()) == ["public", "sleds"]
    assert (home / "dagster" / "storage" / "x.partial").exists()
    assert find_leftovers(home) == []


def _instance(home: Path):
    import dagster as dg

    from orchestration.lib.dagster_home import ensure_dagster_home

    return dg.DagsterInstance.from_config(str(ensure_dagster_home(home)))


def _started_run(instance, owner: str | None):
    """A run as a build leaves it when killed: STARTED, holding the warehouse slot."""
    import dagster as dg

    from orchestration.recovery import OWNER_TAG

    run = instance.add_run(
        dg.DagsterRun(job_name="marts", status=dg.DagsterRunStatus.STARTED, tags={OWNER_TAG: owner} if owner else {})
    )
    instance.event_log_storage.initialize_concurrency_limit_to_default("duckdb_warehouse")
    claim = instance.event_log_storage.claim_concurrency_slot("duckdb_warehouse", run.run_id, "sleds_dbt_models")
    assert claim.is_claimed
    return run


def test_recovery_ends_dead_runs_only_and_frees_their_slots(tmp_path):
    from orchestration.recovery import recover, run_states

    instance = _instance(tmp_path)
    host = current_owner().rsplit(":", 2)[0]
    dead = _started_run(instance, f"{host}:999999999:1")  # no such process
    states = {s.run_id: s for s in run_states(instance)}
    assert states[dead.run_id].verdict == "gone" and states[dead.run_id].slots == ("duckdb_warehouse",)
    lines: list[str] = []
    recovery = recover(instance, lines.append)
    assert [s.run_id for s in recovery.repaired] == [dead.run_id] and "pid 999999999" in lines[0]
    assert instance.get_run_by_id(dead.run_id).status.value == "FAILURE"
    assert instance.event_log_storage.get_concurrency_info("duckdb_warehouse").claimed_slots == []

    # a live build's run and a run from the UI are left alone; the operator can end the latter
    live = _started_run(instance, current_owner())
    assert {s.verdict for s in run_states(instance)} == {"alive"}
    instance.event_log_storage.free_concurrency_slots_for_run(live.run_id)
    ui = _started_run(instance, None)
    recovery = recover(instance)
    assert recovery.repaired == [] and {s.verdict for s in recovery.running} == {"alive", "unowned"}
    recover(instance, fail_runs=[ui.run_id[:8]])
    assert instance.get_run_by_id(ui.run_id).status.value == "FAILURE"
    assert instance.get_run_by_id(live.run_id).status.value == "STARTED"


def _sleds(home: Path, landing: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    env = subprocess_env(SLEDS_HOME=str(home), SLEDS_LANDING=str(landing))
    return subprocess.run([venv_bin("sleds"), *args], env=env, capture_output=True, text=True, timeout=timeout)


def _build_until(home: Path, landing: Path, line_starts: str, sig: int, delay: float) -> tuple[int, str, float]:
    """Start `sleds build` in its own process group, send `sig` to the whole group once a
    progress line contains `line_starts` (after `delay` s); its exit code, output and how
    long it took to stop."""
    env = subprocess_env(SLEDS_HOME=str(home), SLEDS_LANDING=str(landing))
    build = subprocess.Popen([venv_bin("sleds"), "build"], env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True, start_new_session=True)  # fmt: skip
    seen, sent = [], None
    try:
        for line in build.stdout:
            seen.append(line)
            if sent is None and line_starts in line:
                time.sleep(delay)
                os.killpg(build.pid, sig)
                sent = time.monotonic()
        build.wait(timeout=120)
    finally:
        if build.poll() is None:
            os.killpg(build.pid, signal.SIGKILL)
    assert sent is not None, f"the build never reached {line_starts!r}:\n" + "".join(seen[-20:])
    return build.returncode, "".join(seen), time.monotonic() - sent


def _contents(home: Path) -> dict[str, str]:
    """Each release folder's content hash (what its reader receives, not when or by which run)."""
    out = {}
    for manifest in sorted((home / "releases").rglob("manifest.json")):
        out[manifest.parent.relative_to(home).as_posix()] = json.loads(manifest.read_text())["content_sha256"]
    return out


@pytest.mark.integration
def test_builds_killed_at_several_points_recover_by_themselves_and_match_a_clean_build(
    tiny_warehouse, tiny_feeds, tmp_path
):
    landing = Path(shutil.copytree(tiny_feeds / "landing", tmp_path / "landing"))
    home = tmp_path / "home"
    # the same people under the same research IDs as the clean build: its vault, nothing else
    shutil.copytree(tiny_warehouse / "vault", home / "vault")
    # SIGKILL of the whole process group while partitions load
    code, out, _ = _build_until(home, landing, "ingested", signal.SIGKILL, 0)
    assert code == -signal.SIGKILL, out[-2000:]
    # Ctrl-C (SIGINT to the terminal's process group) while dbt builds the marts: a clean stop
    code, out, took = _build_until(home, landing, "started      sleds_dbt_models", signal.SIGINT, 1)
    assert "recovered run" in out and "process (pid" in out, out[-3000:]  # the killed ingest's run
    assert code == 130 and took < 30 and "build interrupted: run" in out, out[-3000:]
    # SIGKILL again while the public summaries are published
    code, out, _ = _build_until(home, landing, "started      publish__public_summaries", signal.SIGKILL, 0.5)
    assert code == -signal.SIGKILL and "recovered run" not in out, out[-3000:]  # the SIGINT freed its own slot
    # the next build needs no help, and ends where a clean build of the same files ends
    final = _sleds(home, landing, "build")
    assert final.returncode == 0, final.stdout[-3000:]
    assert "recovered run" in final.stdout, final.stdout[-3000:]
    assert _contents(home) == _contents(tiny_warehouse)
    log = [json.loads(line) for line in (home / "governance" / "disclosure_log.jsonl").read_text().splitlines()]
    recipients = [(e["release"], e["recipient"]) for e in log]
    assert len(recipients) == len(set(recipients)), "a release was disclosed twice"
    clean_log = (tiny_warehouse / "governance" / "disclosure_log.jsonl").read_text().splitlines()
    clean = [json.loads(line) for line in clean_log]
    assert sorted(recipients) == sorted((e["release"], e["recipient"]) for e in clean)
    doctor = _sleds(home, landing, "doctor")
    assert doctor.returncode == 0 and "nothing to repair" in doctor.stdout, doctor.stdout
