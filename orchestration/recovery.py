"""Runs a killed build left behind, found and put right (`sleds build` and `sleds doctor`).

A build runs its Dagster jobs in process. Killed (SIGKILL, a power cut, an OOM kill)
its run stays STARTED in the instance and keeps its claim on the one-slot
`duckdb_warehouse` pool, so the next build would wait for that slot forever. Each
run `sleds build` starts is tagged with its owner process (lib/process_owner.py);
a run whose owner is gone is marked failed and its slots are freed. Slots held by
runs that already finished, or that no longer exist, are freed too. Runs started
elsewhere (the UI, another host) are reported, never touched: only
`sleds doctor --fail-run ID` ends one, on the operator's word.

This module imports Dagster; what it decides per run is plain data (RunState).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from orchestration.lib.process_owner import current_owner, owner_state

OWNER_TAG = "sleds/owner"


@dataclass(frozen=True)
class RunState:
    run_id: str
    job: str
    status: str  # Dagster's run status, or "MISSING" for a slot of a deleted run
    owner: str  # host:pid:start of the build that started it, "" if not started by `sleds build`
    verdict: str  # "gone" | "alive" | "unknown" | "unowned" | "finished" | "missing"
    slots: tuple[str, ...] = ()  # pools it holds a slot of, and "waiting for <pool>"

    @property
    def stale(self) -> bool:
        """Safe to end and free without asking: its process is gone, or it is not running at all."""
        return self.verdict in ("gone", "finished", "missing")

    def describe(self) -> str:
        pid = self.owner.split(":")[1] if self.owner.count(":") == 2 else "?"
        held = [s for s in self.slots if not s.startswith("waiting for ")]
        holds = (f", holding {', '.join(held)}" if held else "") + "".join(
            f", {s}" for s in self.slots if s.startswith("waiting for ")
        )
        why = {
            "gone": f"left {self.status} by a build whose process (pid {pid}) is gone",
            "alive": f"{self.status}, its build (pid {pid}) still runs",
            "unknown": f"{self.status}, started on another host ({self.owner.rsplit(':', 2)[0]})",
            "unowned": f"{self.status}, not started by `sleds build` (the UI?)",
            "finished": f"{self.status}, yet still holding its slot",
            "missing": "deleted from the instance, yet still holding its slot",
        }[self.verdict]
        return f"run {self.run_id[:8]} ({self.job}): {why}{holds}"


@dataclass
class Recovery:
    repaired: list[RunState] = field(default_factory=list)
    running: list[RunState] = field(default_factory=list)  # left alone: alive, elsewhere, or not ours


def owner_tags() -> dict[str, str]:
    """Tags for a run this process starts."""
    return {OWNER_TAG: current_owner()}


def _active_statuses():
    import dagster as dg

    S = dg.DagsterRunStatus
    return [S.NOT_STARTED, S.STARTING, S.STARTED, S.CANCELING]


def _slot_holders(instance) -> dict[str, set[str]]:
    """run id -> the pools it claims a slot of or waits in."""
    storage = instance.event_log_storage
    holders: dict[str, set[str]] = {}
    for key in storage.get_concurrency_keys():
        info = storage.get_concurrency_info(key)
        for slot in info.claimed_slots:
            holders.setdefault(slot.run_id, set()).add(key)
        for step in info.pending_steps:
            if step.assigned_timestamp is not None:
                continue  # given a slot: listed among the claimed ones
            holders.setdefault(step.run_id, set()).add(f"waiting for {key}")
    return holders


def run_states(instance) -> list[RunState]:
    """Every run that is running by the instance's records or holds a pool slot."""
    import dagster as dg

    holders = _slot_holders(instance)
    runs = {r.run_id: r for r in instance.get_runs(filters=dg.RunsFilter(statuses=_active_statuses()))}
    for run_id in holders.keys() - runs.keys():
        run = instance.get_run_by_id(run_id)
        runs[run_id] = run
    out = []
    for run_id, run in sorted(runs.items()):
        slots = tuple(sorted(holders.get(run_id, ())))
        if run is None:
            out.append(RunState(run_id, "?", "MISSING", "", "missing", slots))
            continue
        owner = run.tags.get(OWNER_TAG, "")
        if run.status not in _active_statuses():
            verdict = "finished"
        elif not owner:
            verdict = "unowned"
        else:
            verdict = owner_state(owner)
        out.append(RunState(run_id, run.job_name, run.status.value, owner, verdict, slots))
    return out


def end_run(instance, state: RunState, why: str) -> None:
    """Mark a run failed (if the instance still thinks it runs) and free every slot it holds."""
    run = instance.get_run_by_id(state.run_id)
    if run is not None and run.status in _active_statuses():
        instance.report_run_failed(run, message=why)
    instance.event_log_storage.free_concurrency_slots_for_run(state.run_id)


def cancel_run(instance, run_id: str) -> None:
    """This process's own run, interrupted (Ctrl-C, SIGTERM): canceled, its slots freed."""
    run = instance.get_run_by_id(run_id)
    if run is not None and run.status in _active_statuses():
        instance.report_run_canceled(run, message="interrupted: the build was stopped (SIGINT or SIGTERM)")
    instance.event_log_storage.free_concurrency_slots_for_run(run_id)


def recover(instance, emit: Callable[[str], None] = lambda line: None, *, fail_runs: Iterable[str] = ()) -> Recovery:
    """End every stale run and free its slots, one line each; `fail_runs` (ids or their
    first characters) are ended too, whatever their state: the operator says they are dead."""
    forced = tuple(fail_runs)
    recovery = Recovery()
    for state in run_states(instance):
        chosen = any(state.run_id.startswith(f) for f in forced if f)
        if state.stale or chosen:
            reason = "its process is gone" if state.verdict == "gone" else state.verdict
            end_run(instance, state, f"ended by sleds recovery: {'the operator said so' if chosen else reason}")
            recovery.repaired.append(state)
            emit(f"recovered {state.describe()}: marked failed, slots freed")
        else:
            recovery.running.append(state)
    return recovery
