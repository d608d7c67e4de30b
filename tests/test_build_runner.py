"""Progress reporting around an in-process run (pure code, no Dagster)."""

from types import SimpleNamespace

from orchestration.lib.build_runner import StepLine, run_with_progress


def test_progress_lines_are_emitted_and_outcome_collected():
    events = [
        [StepLine("started", "raw_msds", "")],
        [StepLine("materialized", "raw/msds", "")],
        [StepLine("failed", "dbt", "boom")],
    ]
    printed = []
    outcome = run_with_progress(
        lambda: SimpleNamespace(success=False),
        lambda: events.pop(0) if events else [],
        printed.append,
        interval=0.01,
    )
    assert outcome.materialized == ["raw/msds"]
    assert outcome.failures == ["dbt: boom"]
    assert not outcome.success
    assert any("materialized" in line for line in printed)


def test_a_crash_in_the_run_is_reported_not_swallowed():
    def explode():
        raise RuntimeError("disk full")

    outcome = run_with_progress(explode, lambda: [], lambda line: None, interval=0.01)
    assert not outcome.success
    assert isinstance(outcome.error, RuntimeError)


def test_the_cpu_the_progress_loop_spends_is_counted_apart_from_the_run():
    """make bench holds polling to 2 % of a build's CPU: the loop's own thread time is
    what it reports, not the run's (which sleeps here)."""
    import time

    def busy_poll():
        until = time.thread_time() + 0.02
        while time.thread_time() < until:
            pass
        return []

    outcome = run_with_progress(lambda: time.sleep(0.2), busy_poll, lambda line: None, interval=0.01)
    assert outcome.poll_cpu_s >= 0.02  # at least one poll, each 20 ms of CPU
    idle = run_with_progress(lambda: time.sleep(0.2), lambda: [], lambda line: None, interval=0.01)
    assert idle.poll_cpu_s < outcome.poll_cpu_s
