"""The Dagster instance folder every entry point shares (SLEDS_HOME/dagster)."""

from __future__ import annotations

from pathlib import Path

# one writer per DuckDB file: the warehouse pool runs one step at a time. No
# compute-log capture: the local manager spawns `tail -F` processes that can outlive
# the run and hold a caller's output pipe open (seen hanging a test); dbt's output
# goes to SLEDS_HOME/logs instead.
INSTANCE_YAML = (
    "concurrency:\n  pools:\n    default_limit: 1\n"
    "telemetry:\n  enabled: false\n"
    "compute_logs:\n  module: dagster._core.storage.noop_compute_log_manager\n"
    "  class: NoOpComputeLogManager\n"
)


def ensure_dagster_home(home: Path) -> Path:
    """Create SLEDS_HOME/dagster with the product's instance settings; returns it."""
    folder = home / "dagster"
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "dagster.yaml"
    if not config.exists() or "compute_logs" not in config.read_text():
        config.write_text(INSTANCE_YAML)
    return folder
