"""Who may use `sleds query`, `query --warehouse`, `extract` and `audit`: the access file
(orchestration/lib/governance/access.py), its default when there is none, and the
refusals recorded in the activity log."""

import os
import subprocess

import pytest

from orchestration.cli import main
from orchestration.lib.governance.access import AccessRefused, authorize, load_policy
from orchestration.lib.governance.activity_log import read_activity
from tests.conftest import copy_home, subprocess_env, venv_bin

ACCESS = """
[users."eng.e"]
roles = ["engineer"]

[users."steward.s"]
roles = ["steward"]

[users."researcher.r"]
roles = ["researcher"]
releases = ["sleds"]
projects = ["p-college"]

[users."committee.c"]
roles = ["committee"]

[limits]
query_timeout_s = 42
"""


def write_access(home, text=ACCESS, mode=0o600):
    home.mkdir(parents=True, exist_ok=True)
    path = home / "access.toml"
    path.write_text(text)
    path.chmod(mode)
    return path


@pytest.fixture(scope="module")
def built(tiny_warehouse, tmp_path_factory):
    home = copy_home(tiny_warehouse, tmp_path_factory.mktemp("roles") / "home")
    write_access(home)
    return home


@pytest.fixture()
def home(built, monkeypatch):
    monkeypatch.setenv("SLEDS_HOME", str(built))
    monkeypatch.delenv("SLEDS_ACCESS_FILE", raising=False)
    return built


def as_user(monkeypatch, user):
    monkeypatch.setenv("SLEDS_USER", user)


def last_entry(home):
    return read_activity(home)[-1]


# ------------------------------------------------------------------ the rules


def test_what_each_role_may_do(tmp_path, monkeypatch):
    monkeypatch.delenv("SLEDS_ACCESS_FILE", raising=False)
    write_access(tmp_path)
    allowed = {
        "eng.e": {("query", "sleds"), ("query", "institution:1000214"), ("query", "public"),
                  ("query --warehouse", None), ("audit", None), ("audit --verify", None)},
        "steward.s": {("query", "sleds"), ("query", "institution:1000214"), ("query", "public"),
                      ("query --warehouse", None),
                      ("extract", "p-college"), ("extract", "p-other"), ("extract --create-key", "p-college"),
                      ("audit", None), ("audit --verify", None)},
        "researcher.r": {("query", "sleds"), ("extract", "p-college")},
        "committee.c": {("audit", None), ("audit --verify", None)},
        "stranger": set(),
    }  # fmt: skip
    asked = {(c, t) for rights in allowed.values() for c, t in rights}
    for user, rights in allowed.items():
        as_user(monkeypatch, user)
        for command, target in asked:
            if (command, target) in rights:
                assert authorize(command, target, home=tmp_path).notice is None
            else:
                with pytest.raises(AccessRefused) as refused:
                    authorize(command, target, home=tmp_path)
                assert refused.value.user == user and refused.value.role_needed in str(refused.value)


def test_no_access_file_the_owner_of_sleds_home_holds_every_role(tmp_path, monkeypatch):
    monkeypatch.delenv("SLEDS_ACCESS_FILE", raising=False)
    as_user(monkeypatch, "anyone")
    decision = authorize("query --warehouse", home=tmp_path / "not built yet")
    assert "no access file" in decision.notice and "every role" in decision.notice
    monkeypatch.setattr(os, "geteuid", lambda: os.stat(tmp_path).st_uid + 1)  # another account
    with pytest.raises(AccessRefused, match="does not own SLEDS_HOME"):
        authorize("query", "sleds", home=tmp_path)


def test_a_broken_or_missing_named_or_writable_access_file_refuses_everyone(tmp_path, monkeypatch):
    as_user(monkeypatch, "steward.s")
    monkeypatch.setenv("SLEDS_ACCESS_FILE", str(tmp_path / "typo.toml"))
    with pytest.raises(AccessRefused, match="does not exist"):
        authorize("audit", home=tmp_path)
    monkeypatch.delenv("SLEDS_ACCESS_FILE")
    write_access(tmp_path, mode=0o666)
    with pytest.raises(AccessRefused, match="writable by other accounts"):
        authorize("audit", home=tmp_path)
    for text, problem in (
        ('[users."steward.s"]\nroles = ["admin"]\n', "unknown roles admin"),
        ('[users."steward.s"]\nrole = ["steward"]\n', "unknown keys role"),
        ('[users."steward.s"]\nroles = ["steward"]\nreleases = ["sleds"]\n', "granted to researchers"),
        ('[users."r"]\nroles = ["researcher"]\nreleases = ["warehouse"]\n', "unknown releases warehouse"),
        ("[users\n", "cannot be read"),
    ):
        write_access(tmp_path, text)
        with pytest.raises(AccessRefused, match=problem):
            authorize("audit", home=tmp_path)
    write_access(tmp_path)
    assert load_policy(tmp_path).limits == {"query_timeout_s": 42}


# ------------------------------------------------------------ through the commands


def test_a_user_not_in_the_access_file_is_refused_the_warehouse_and_it_is_logged(home, monkeypatch, capsys):
    as_user(monkeypatch, "mallory")
    assert main(["query", "--warehouse", "select count(*) from staging.stg_ps__awards"]) == 2
    out = capsys.readouterr()
    assert out.out == "" and "refused: user 'mallory' is not in the access file" in out.err
    entry = last_entry(home)
    assert entry["user"] == "mallory" and entry["action"] == "query_refused"
    assert entry["detail"]["outcome"] == "refused" and entry["detail"]["command"] == "query --warehouse"
    assert entry["detail"]["role_needed"] == "engineer or steward"
    # the engineer named in the file may
    as_user(monkeypatch, "eng.e")
    assert main(["query", "--warehouse", "select count(*) from staging.stg_ps__awards", "--format", "csv"]) == 0
    assert last_entry(home)["detail"]["outcome"] == "ok"


def test_a_researcher_for_one_release_is_refused_another(home, monkeypatch, capsys):
    as_user(monkeypatch, "researcher.r")
    assert main(["query", "select count(*) from rel_sleds__ps_awards", "--format", "csv"]) == 0
    capsys.readouterr()
    mart = sorted(p.name for p in (home / "releases" / "institutions").iterdir())[0]
    assert main(["query", "select 1", "--release", f"institution:{mart}"]) == 2
    err = capsys.readouterr().err
    assert f"researcher granted release institution:{mart}" in err and "granted: sleds" in err
    assert main(["query", "--warehouse", "select 1"]) == 2
    entry = last_entry(home)
    assert entry["user"] == "researcher.r" and entry["detail"]["command"] == "query --warehouse"


def test_extract_needs_the_project_and_key_creation_the_steward(home, monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("SLEDS_PROJECT_KEY_P_COLLEGE", "cd" * 32)
    as_user(monkeypatch, "researcher.r")
    assert main(["extract", "--project", "p-other", "--out", str(tmp_path / "x")]) == 2
    assert "steward or a researcher granted project p-other" in capsys.readouterr().out
    entry = last_entry(home)
    assert entry["action"] == "extract_refused" and entry["detail"]["command"] == "extract"
    assert main(["extract", "--project", "p-college", "--create-key", "--out", str(tmp_path / "y")]) == 2
    assert "extract --create-key (p-college) needs: steward" in capsys.readouterr().out
    assert last_entry(home)["detail"]["command"] == "extract --create-key"
    assert not any((home / "secrets").rglob("p-college*"))
    out = tmp_path / "extract"
    assert main(["extract", "--project", "p-college", "--tables", "rel_sleds__ps_awards", "--out", str(out)]) == 0
    assert (out / "manifest.json").exists()


def test_the_committee_can_audit_and_a_researcher_cannot(home, monkeypatch, capsys):
    as_user(monkeypatch, "committee.c")
    assert main(["audit", "--verify"]) == 0
    assert "disclosure log intact" in capsys.readouterr().out
    as_user(monkeypatch, "researcher.r")
    assert main(["audit", "--verify"]) == 2
    assert "committee, steward or engineer" in capsys.readouterr().err
    entry = last_entry(home)
    assert entry["action"] == "audit_refused" and entry["user"] == "researcher.r"
    assert entry["detail"]["command"] == "audit --verify"


def test_the_sleds_command_refuses_an_unknown_user_out_of_process(home):
    """The one subprocess: the installed `sleds` entry point applies the same file."""
    env = subprocess_env(SLEDS_HOME=str(home), SLEDS_USER="mallory")
    env.pop("SLEDS_ACCESS_FILE", None)
    done = subprocess.run([venv_bin("sleds"), "query", "--warehouse", "select 1"], env=env, capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert done.returncode == 2 and "not in the access file" in done.stderr
    assert last_entry(home)["user"] == "mallory"
