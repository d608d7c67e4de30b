"""Who may use which `sleds` command (DOMAIN §5: user activity, permission grants).

The access file (`SLEDS_ACCESS_FILE`, else `SLEDS_HOME/access.toml`) names each user
(the acting user: SLEDS_USER, else the login) and their roles:

    [users."researcher.r"]
    roles = ["researcher"]
    releases = ["sleds", "public", "institution:1000214"]   # what they may `sleds query`
    projects = ["p-college"]                                 # what they may `sleds extract`

    [users."steward.b"]
    roles = ["steward"]

    [limits]                                                 # optional; env variables win
    query_timeout_s = 300
    query_memory_limit = "2GB"

What each command needs (`authorize`):

- `sleds query --release R`: engineer or steward (any release), or a researcher granted R;
- `sleds query --warehouse`: engineer or steward;
- `sleds extract --project P`: steward, or a researcher granted P; `--create-key`: steward
  (project keys are the steward's to hand out);
- `sleds audit` (the report and `--verify`): committee, steward or engineer. Engineers
  run the system and can read the governance logs on disk anyway, and `--verify` is their
  check after a build; refusing them would protect nothing. Researchers are refused: the
  report shows every other researcher's activity.

With no access file at all, the account that owns SLEDS_HOME (the one that generated
and built it) holds every role and is told so in one line; any other account is
refused. An access file, once it exists, is the only authority: a user it does not
name is refused everything. A file that cannot be read, has a mistake in it or is
writable by other accounts refuses everyone (a file anyone can edit grants nothing).
SLEDS_USER is set by whoever runs the command, so on a shared machine the boundary
is still the file permissions of SLEDS_HOME; this file says who, of the people allowed
to run `sleds` there, may do what, and every refusal is recorded."""

from __future__ import annotations

import os
import re
import stat
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from orchestration.lib import paths
from orchestration.lib.governance._jsonl import current_user

ACCESS_FILE_ENV = "SLEDS_ACCESS_FILE"
ACCESS_FILE_NAME = "access.toml"
ROLES = ("engineer", "steward", "researcher", "committee")
RELEASE_NAME = re.compile(r"sleds|public|institution:[0-9A-Za-z_-]{1,32}")
USER_KEYS = ("roles", "releases", "projects")
LIMIT_KEYS = {"query_timeout_s", "query_memory_limit"}


class AccessFileError(ValueError):
    """The access file is missing (where one was named), unreadable or wrong."""


class AccessRefused(PermissionError):
    """The user may not do this; `role_needed` says who may, for the message and the log."""

    def __init__(self, message: str, *, user: str, command: str, role_needed: str):
        super().__init__(message)
        self.user = user
        self.command = command
        self.role_needed = role_needed

    def log_detail(self) -> dict:
        """What the activity log records of a refusal (the user is the entry's own)."""
        return {"command": self.command, "role_needed": self.role_needed, "reason": str(self)[:300]}


@dataclass(frozen=True)
class Grant:
    user: str
    roles: frozenset[str]
    releases: frozenset[str] = frozenset()
    projects: frozenset[str] = frozenset()


@dataclass(frozen=True)
class AccessPolicy:
    path: Path
    exists: bool
    users: dict[str, Grant] = field(default_factory=dict)
    limits: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Decision:
    """Allowed: the grant that allowed it, and a notice to print when the grant is implicit."""

    grant: Grant
    notice: str | None = None


def access_file_path(home: Path | None = None) -> Path:
    named = os.environ.get(ACCESS_FILE_ENV)
    if named:
        return Path(named).expanduser()
    return (Path(home) if home is not None else paths.sleds_home()) / ACCESS_FILE_NAME


def load_policy(home: Path | None = None) -> AccessPolicy:
    """The access file read and checked; `exists=False` when there is none at the default
    place. A file named by SLEDS_ACCESS_FILE must exist: a typo must not open everything."""
    path = access_file_path(home)
    if not path.exists():
        if os.environ.get(ACCESS_FILE_ENV):
            raise AccessFileError(f"{ACCESS_FILE_ENV} names {path}, which does not exist")
        return AccessPolicy(path, exists=False)
    mode = path.stat().st_mode
    if mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise AccessFileError(
            f"the access file {path} is writable by other accounts (mode {stat.filemode(mode)}), so it grants "
            f"nothing: `chmod 600 {path}`"
        )
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise AccessFileError(f"the access file {path} cannot be read: {exc}") from exc
    unknown = sorted(set(data) - {"users", "limits"})
    if unknown:
        raise AccessFileError(f"the access file {path} has unknown sections: {', '.join(unknown)} (users, limits)")
    users = {name: _grant(name, entry, path) for name, entry in _table(data, "users", path).items()}
    limits = _table(data, "limits", path)
    if set(limits) - LIMIT_KEYS:
        raise AccessFileError(
            f"the access file {path} has unknown limits: {', '.join(sorted(set(limits) - LIMIT_KEYS))} "
            f"({', '.join(sorted(LIMIT_KEYS))})"
        )
    return AccessPolicy(path, exists=True, users=users, limits=limits)


def _table(data: dict, key: str, path: Path) -> dict:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise AccessFileError(f"the access file {path}: [{key}] must be a table")
    return value


def _grant(user: str, entry, path: Path) -> Grant:
    where = f"the access file {path}, user {user!r}"
    if not isinstance(entry, dict):
        raise AccessFileError(f"{where}: expected a table with roles = [...]")
    if set(entry) - set(USER_KEYS):
        unknown = ", ".join(sorted(set(entry) - set(USER_KEYS)))
        raise AccessFileError(f"{where}: unknown keys {unknown} (roles, releases, projects)")
    roles, releases, projects = (_strings(entry.get(key, []), f"{where}, {key}") for key in USER_KEYS)
    bad = sorted(roles - set(ROLES))
    if bad:
        raise AccessFileError(f"{where}: unknown roles {', '.join(bad)} (roles: {', '.join(ROLES)})")
    bad = sorted(r for r in releases if not RELEASE_NAME.fullmatch(r))
    if bad:
        raise AccessFileError(f"{where}: unknown releases {', '.join(bad)} (sleds, public, institution:<code>)")
    if (releases or projects) and "researcher" not in roles:
        raise AccessFileError(f"{where}: releases and projects are granted to researchers; add 'researcher' to roles")
    return Grant(user, roles, releases, projects)


def _strings(value, where: str) -> frozenset[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise AccessFileError(f"{where}: expected a list of names")
    return frozenset(value)


def owns_home(home: Path | None = None) -> bool:
    """Whether this process runs as the account that owns SLEDS_HOME (or, before the first
    build, its nearest existing parent folder)."""
    folder = Path(home) if home is not None else paths.sleds_home()
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder.stat().st_uid == os.geteuid()


# ------------------------------------------------------------- what each command needs


def _allows(grant: Grant, command: str, target: str | None) -> bool:
    roles = grant.roles
    if command == "query":
        return bool(roles & {"engineer", "steward"}) or ("researcher" in roles and target in grant.releases)
    if command == "query --warehouse":
        return bool(roles & {"engineer", "steward"})
    if command == "extract":
        return "steward" in roles or ("researcher" in roles and target in grant.projects)
    if command == "extract --create-key":
        return "steward" in roles
    if command in ("audit", "audit --verify"):
        return bool(roles & {"committee", "steward", "engineer"})
    if command == "vault rotate-key":
        return "steward" in roles
    raise ValueError(f"no access rule for {command!r}")


def role_needed(command: str, target: str | None = None) -> str:
    return {
        "query": f"engineer, steward or a researcher granted release {target}",
        "query --warehouse": "engineer or steward",
        "extract": f"steward or a researcher granted project {target}",
        "extract --create-key": "steward",
        "audit": "committee, steward or engineer",
        "audit --verify": "committee, steward or engineer",
        "vault rotate-key": "steward",
    }[command]


def authorize(command: str, target: str | None = None, *, home: Path | None = None) -> Decision:
    """Allow `command` (query, query --warehouse, extract, extract --create-key, audit,
    audit --verify) on `target` (the release or project) for the acting user, or raise
    AccessRefused saying which role it needs."""
    user = current_user()
    needed = role_needed(command, target)
    shown = f"sleds {command}" + (f" ({target})" if target else "")

    def refuse(why: str) -> AccessRefused:
        message = f"refused: {why}; {shown} needs: {needed}."
        return AccessRefused(message, user=user, command=command, role_needed=needed)

    try:
        policy = load_policy(home)
    except AccessFileError as exc:
        raise refuse(str(exc)) from exc
    if not policy.exists:
        if not owns_home(home):
            raise refuse(
                f"there is no access file ({policy.path}) and this account does not own SLEDS_HOME; without one "
                "only its owner may use sleds"
            )
        notice = (
            f"note: no access file at {policy.path}; as the owner of SLEDS_HOME you hold every role "
            "(write one to grant roles to others: docs/access.md)"
        )
        return Decision(Grant(user, frozenset(ROLES), frozenset(), frozenset()), notice)
    grant = policy.users.get(user)
    if grant is None:
        raise refuse(f"user {user!r} is not in the access file {policy.path}")
    if not _allows(grant, command, target):
        raise refuse(f"user {user!r} holds {_held(grant, command)}")
    return Decision(grant)


def _held(grant: Grant, command: str) -> str:
    """The user's roles, and for a researcher what they were granted of the kind asked for."""
    held = ", ".join(sorted(grant.roles)) or "no role"
    granted = {"query": grant.releases, "extract": grant.projects}.get(command)
    if granted is not None and "researcher" in grant.roles:
        held += f" (granted: {', '.join(sorted(granted)) or 'none'})"
    return held


def file_limits(home: Path | None = None) -> dict:
    """The [limits] table of the access file ({} without one; a broken file's problem is
    reported by `authorize`, which runs first)."""
    try:
        return load_policy(home).limits
    except AccessFileError:
        return {}
