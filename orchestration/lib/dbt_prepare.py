"""Keep the dbt manifest current outside `dagster dev`.

dagster-dbt only re-parses under `dagster dev`; `sleds build`, tests and CI load
the definitions too, so the manifest is re-parsed whenever it is missing or older
than any model, macro, seed, seed properties or project file.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from orchestration.lib import paths

_WATCHED = ("models", "macros", "tests", "dbt_project.yml", "profiles.yml")


def dbt_env() -> dict[str, str]:
    """Environment for every dbt invocation: where the warehouse is."""
    env = dict(os.environ)
    env["SLEDS_WAREHOUSE"] = str(paths.warehouse_path())
    env.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    return env


def dbt_executable() -> str:
    """The dbt installed beside this Python (the project's venv), else the one on PATH."""
    beside = Path(sys.executable).with_name("dbt")
    return str(beside) if beside.exists() else "dbt"


def _newest_source(project_dir: Path) -> float:
    newest = 0.0
    for name in _WATCHED:
        p = project_dir / name
        files = [p] if p.is_file() else list(p.rglob("*")) if p.exists() else []
        for f in files:
            newest = max(newest, f.stat().st_mtime)
    # the seeds and their properties (seeds/_seeds.yml: descriptions), dbt's seed-paths
    for f in [*paths.SEEDS_DIR.glob("*.csv"), *paths.SEEDS_DIR.glob("*.yml")]:
        newest = max(newest, f.stat().st_mtime)
    return newest


def manifest_is_stale(project_dir: Path = paths.DBT_PROJECT_DIR) -> bool:
    manifest = project_dir / "target" / "manifest.json"
    return not manifest.exists() or manifest.stat().st_mtime < _newest_source(project_dir)


def ensure_manifest(project_dir: Path = paths.DBT_PROJECT_DIR) -> Path:
    manifest = project_dir / "target" / "manifest.json"
    if manifest_is_stale(project_dir):
        cmd = [
            dbt_executable(),
            "parse",
            "--quiet",
            "--project-dir",
            str(project_dir),
            "--profiles-dir",
            str(project_dir),
        ]
        done = subprocess.run(cmd, env=dbt_env(), capture_output=True, text=True)
        if done.returncode != 0 or not manifest.exists():
            raise RuntimeError(f"`dbt parse` failed for {project_dir}:\n{done.stdout}\n{done.stderr}")
    return manifest


def run_dbt(*args: str) -> subprocess.CompletedProcess:
    """dbt on the warehouse of the current SLEDS_HOME, for work outside the Dagster job:
    a test rebuilding a few models after editing a mart, the benchmark compiling the
    SQL it runs bare. Raises with dbt's output on failure."""
    cmd = [dbt_executable(), *args, "--project-dir", str(paths.DBT_PROJECT_DIR), "--profiles-dir",
           str(paths.DBT_PROJECT_DIR), "--no-use-colors"]  # fmt: skip
    done = subprocess.run(cmd, env=dbt_env(), capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"dbt {' '.join(args)} failed:\n{done.stdout[-4000:]}\n{done.stderr[-2000:]}")
    return done
