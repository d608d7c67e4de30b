"""The activity log (DOMAIN §5: audit logs of user activity - account management,
permission grants, report generation): one JSON line per action in
`SLEDS_HOME/governance/activity_log.jsonl` with who (SLEDS_USER, else the login), when
(UTC) and what. Append-only; the `sleds` command records build, query, extract and
audit, the governance stage records each registry load (counts of agreement statuses:
the permissions in force)."""

import json
from pathlib import Path

from orchestration.lib.governance._jsonl import current_user, governance_dir, locked_append, read_lines, utc_now

ACTIVITY_FILE = "activity_log.jsonl"


def activity_log_path(home: Path | None = None) -> Path:
    return governance_dir(home) / ACTIVITY_FILE


def record_activity(action: str, detail: dict, home: Path | None = None) -> dict:
    """Append one entry {user, at, action, detail}; returns it. Never pass data values
    or PII in `detail`: counts, names of tables, files and releases only."""
    entry = {"at": utc_now(), "user": current_user(), "action": action, "detail": detail}
    line = json.dumps(entry, sort_keys=True, ensure_ascii=False, default=str)
    with locked_append(activity_log_path(home)) as handle:
        handle.write(line + "\n")
    return entry


def read_activity(home: Path | None = None) -> list[dict]:
    """Every entry, oldest first (unreadable lines are returned as {'action': 'unreadable'})."""
    out = []
    for line in read_lines(activity_log_path(home)):
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            out.append({"action": "unreadable", "detail": {"line": line[:200]}})
    return out
