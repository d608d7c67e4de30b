"""Progress reporting for an in-process Dagster run (used by `sleds build`).

The run executes in a worker thread; the caller's thread polls the run's event
log and prints one line per step start, asset materialization and failure, so a
long build shows where it is without Dagster's verbose console log.
"""

from __future__ import annotations

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
    failures: list[str] = field(default_factory=list)
    error: BaseException | None = None


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
        lines = poll()
        for line in lines:
            if line.kind == "materialized":
                outcome.materialized.append(line.step)
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
