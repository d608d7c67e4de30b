"""Whether everything downstream of ingest already reflects its inputs, so a build with
nothing to load has nothing to do.

The downstream (rechecks, identity, dbt marts, releases, publication) is decided by:
the code and reference data (orchestration/, dbt_project/, seeds/, expectations/), the
agreement registry and its as-of day (statuses, purges), and the warehouse and vault as
the ingest and the stewards left them. After a successful downstream run the build
records a stamp of all that, plus a stamp of every release folder it wrote; the next
build with no partition to load compares and, when nothing differs, says "nothing to
do" without loading Dagster or dbt. Anything that writes the warehouse or the vault
(a load, a steward's decision, a purge, a hand edit) changes their file stamps, so a
stale "nothing to do" needs a file edited with its size and modification time kept.

No Dagster import here: the command line checks this before loading the definitions."""

from __future__ import annotations

import json
import os
from pathlib import Path

from orchestration.lib import paths, vault_at_rest
from orchestration.lib.storage import sha256_bytes

STATE_FILE = "downstream_state.json"
CODE_FOLDERS = ("orchestration", "dbt_project", "seeds", "expectations")
CODE_SUFFIXES = (".py", ".sql", ".yml", ".yaml", ".csv", ".json", ".j2", ".md")
# dbt's own output folders are not code
NOT_CODE = ("dbt_project/target", "dbt_project/logs", "dbt_project/dbt_packages")
# the agreement registry and policy (orchestration/lib/agreements; in seeds/ unless
# SLEDS_AGREEMENTS_DIR says otherwise): stamped as "registry", not as code, so an edit of
# them re-runs only what the agreements decide (orchestration/defs/incremental.py)
REGISTRY_FILES = (
    "agreements.csv", "agreement_restrictions.csv", "agreement_clauses.csv", "agreement_rules.csv", "policy_scopes.csv",
)  # fmt: skip


def state_path(home: Path | None = None) -> Path:
    return (home or paths.sleds_home()) / "state" / STATE_FILE


def code_files() -> list[str]:
    """Every source and reference file that shapes the downstream, relative to the repository."""
    out = []
    for folder in CODE_FOLDERS:
        for path in sorted((paths.REPO_ROOT / folder).rglob("*")):
            rel = path.relative_to(paths.REPO_ROOT).as_posix()
            if not path.is_file() or path.suffix not in CODE_SUFFIXES or rel.startswith(NOT_CODE):
                continue
            if "__pycache__" in rel or (folder == "seeds" and path.name in REGISTRY_FILES):
                continue
            out.append(rel)
    return out


def code_stamp() -> str:
    """SHA-256 over the code files (code_files), each with its path."""
    return sha256_bytes(*(rel.encode() + b"\0" + (paths.REPO_ROOT / rel).read_bytes() + b"\0" for rel in code_files()))


def _file_stamp(path: Path) -> list | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return [st.st_size, st.st_mtime_ns]


def _registry_stamp() -> str:
    from orchestration.lib.agreements.policy import policy_dir

    def chunk(name: str) -> bytes:
        path = Path(policy_dir()) / name
        return name.encode() + b"\0" + (path.read_bytes() if path.exists() else b"(missing)") + b"\0"

    return sha256_bytes(*(chunk(name) for name in REGISTRY_FILES))


def releases_stamp(home: Path | None = None) -> dict[str, list]:
    """Every file under the releases folder with its size and modification time: a removed,
    added or rewritten release file makes the downstream due again."""
    root = paths.releases_dir(home)
    if not root.exists():
        return {}
    return {
        p.relative_to(root).as_posix(): _file_stamp(p)
        for p in sorted(root.rglob("*"))
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)
    }


def downstream_inputs(home: Path | None = None) -> dict:
    """What the downstream's result depends on, as it is now."""
    from orchestration.lib.agreements.registry import as_of_date

    return {
        "code": code_stamp(),
        "registry": _registry_stamp(),
        "as_of": str(as_of_date()),
        "ground_truth": os.environ.get("SLEDS_GROUND_TRUTH", ""),
        "warehouse": _file_stamp(paths.warehouse_path(home)),
        "vault": _file_stamp(vault_at_rest.stamp_file(paths.vault_path(home))),
        "releases": releases_stamp(home),
    }


def record_downstream_done(home: Path | None = None) -> None:
    """After a successful downstream run: the inputs it reflects."""
    path = state_path(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".partial")
    tmp.write_text(json.dumps(downstream_inputs(home), indent=1, sort_keys=True))
    tmp.replace(path)


def forget_downstream(home: Path | None = None) -> None:
    """Before a downstream run (or after a failed one): nothing is known to be current."""
    state_path(home).unlink(missing_ok=True)


def what_changed(home: Path | None = None) -> list[str]:
    """The inputs that differ from the last successful downstream run ([] = nothing to do)."""
    path = state_path(home)
    if not path.exists():
        return ["no successful build recorded"]
    try:
        before = json.loads(path.read_text())
    except json.JSONDecodeError:
        return ["the build state is unreadable"]
    now = downstream_inputs(home)
    return [key for key in now if before.get(key) != now[key]]
