"""Progress reporting for an in-process Dagster run (used by `sleds build`).

The run executes in a worker thread; the caller's thread polls the run's event
log and prints one line per step start, asset materialization and failure, so a
long build shows where it is without Dagster's verbose console log.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class StepLine:
    kind: str
    step: str
    message: str


@dataclass
class RunOutcome:
    success: bool
    seconds: float
    materialized: list[str] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)  # "asset:check" of every check evaluated
    failures: list[str] = field(default_factory=list)
    error: BaseException | None = None
    poll_cpu_s: float = 0.0  # CPU the progress loop itself spent (its thread only): what watching costs


def run_with_progress(
    execute: Callable[[], object],
    poll: Callable[[], list[StepLine]],
    emit: Callable[[str], None],
    interval: float = 0.5,
    began: float | None = None,
) -> RunOutcome:
    """Run `execute` in a thread; print what `poll` returns until it finishes."""
    result: dict = {}

    def worker():
        try:
            result["value"] = execute()
        except BaseException as exc:  # reported to the caller, never swallowed
            result["error"] = exc

    started = time.monotonic()
    began = started if began is None else began  # timestamps count from here
    thread = threading.Thread(target=worker, name="sleds-build", daemon=True)
    thread.start()
    outcome = RunOutcome(success=False, seconds=0.0)

    def drain() -> int:
        spent = time.thread_time()
        lines = poll()
        outcome.poll_cpu_s += time.thread_time() - spent
        for line in lines:
            if line.kind == "materialized":
                outcome.materialized.append(line.step)
            elif line.kind == "checked":
                outcome.checked.append(line.step)
            elif line.kind == "failed":
                outcome.failures.append(f"{line.step}: {line.message}")
            detail = f" {line.message}" if line.message else ""
            emit(f"[{time.monotonic() - began:7.1f}s] {line.kind:<12} {line.step}{detail}")
        return len(lines)

    while thread.is_alive():
        thread.join(interval)
        drain()
    while drain():  # events written as the run finished
        pass
    outcome.seconds = time.monotonic() - started
    outcome.error = result.get("error")
    value = result.get("value")
    outcome.success = outcome.error is None and bool(getattr(value, "success", False))
    return outcome


def _children(pid: int) -> list[int]:
    out = []
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children") as f:
            out.extend(int(c) for c in f.read().split())
    return out


def descendants() -> list[int]:
    """Every process below this one (dbt runs in a child), from /proc."""
    seen: list[int] = []
    todo = [os.getpid()]
    while todo:
        pid = todo.pop()
        try:
            kids = [c for c in _children(pid) if c not in seen]
        except (OSError, ValueError):
            continue
        seen.extend(kids)
        todo.extend(kids)
    return seen


def stop_descendants(grace_s: float = 5.0) -> None:
    """SIGTERM to every process below this one, SIGKILL to those still there after
    `grace_s`: an interrupted build must not leave dbt writing the warehouse."""
    import signal

    pids = descendants()
    for pid in pids:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while pids and time.monotonic() < deadline:
        pids = [p for p in pids if os.path.exists(f"/proc/{p}") and _state(p) != "Z"]
        time.sleep(0.1)
    for pid in pids:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


def _state(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return "Z"


def process_tree_rss() -> int:
    """Resident memory of this process and every process below it (dbt runs in a
    child), in bytes; 0 where /proc is not there."""
    total = 0
    for pid in [os.getpid(), *descendants()]:
        try:
            with open(f"/proc/{pid}/statm") as f:
                total += int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError):
            continue
    return total


def cpu_seconds() -> float:
    """User + system CPU of this process and its finished children."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


OVERHEAD = "(between steps)"


class StepClock:
    """Per-step wall time, CPU time and peak memory of an in-process run.

    Steps run one at a time in the run's thread; the progress loop samples CPU and
    memory every poll and charges what was spent since the last sample to the step
    running now (or to OVERHEAD between steps: Dagster's own cost, reported as
    such). Precision is one poll interval per step, which is why the benchmark uses
    a short interval; wall times come from Dagster's event timestamps."""

    def __init__(self, job: str, clock: Callable[[], float] = cpu_seconds, rss: Callable[[], int] = process_tree_rss):
        self.job = job
        self._clock, self._rss = clock, rss
        self._last_cpu = clock()
        self._current: str | None = None
        self.steps: dict[str, dict] = {}

    def _step(self, name: str) -> dict:
        return self.steps.setdefault(
            name, {"job": self.job, "step": name, "wall_s": 0.0, "cpu_s": 0.0, "peak_rss_gb": 0.0, "status": ""}
        )

    def sample(self) -> None:
        now = self._clock()
        step = self._step(self._current or OVERHEAD)
        step["cpu_s"] += now - self._last_cpu
        step["peak_rss_gb"] = max(step["peak_rss_gb"], self._rss() / 1024**3)
        self._last_cpu = now

    def started(self, step: str, timestamp: float) -> None:
        self.sample()  # what ran before belongs to the previous step
        self._current = step
        self._step(step)["started_at"] = timestamp

    def ended(self, step: str, timestamp: float, status: str) -> None:
        self.sample()
        s = self._step(step)
        s["status"] = status
        if "started_at" in s:
            s["wall_s"] = timestamp - s["started_at"]
        if self._current == step:
            self._current = None

    def timings(self, run_wall_s: float | None = None) -> list[dict]:
        """One row per step; given the run's wall time, the OVERHEAD row gets what the
        steps' own wall times leave of it."""
        self.sample()
        if run_wall_s is not None:
            steps = sum(s["wall_s"] for name, s in self.steps.items() if name != OVERHEAD)
            self._step(OVERHEAD)["wall_s"] = max(run_wall_s - steps, 0.0)
        out = []
        for s in self.steps.values():
            row = {k: v for k, v in s.items() if k != "started_at"}
            row.update(wall_s=round(row["wall_s"], 2), cpu_s=round(row["cpu_s"], 2),
                       peak_rss_gb=round(row["peak_rss_gb"], 3))  # fmt: skip
            out.append(row)
        return out
