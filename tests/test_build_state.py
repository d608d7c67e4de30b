"""What makes the downstream due again (orchestration/lib/build_state.py): a build with
nothing to load is "nothing to do" only while none of its inputs changed."""

import os

import pytest

from orchestration.lib import build_state, paths


@pytest.fixture()
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("SLEDS_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("SLEDS_AS_OF_DATE", raising=False)
    monkeypatch.delenv("SLEDS_AGREEMENTS_DIR", raising=False)
    for path in (paths.warehouse_path(), paths.vault_path(), paths.releases_dir() / "sleds" / "manifest.json"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")
    return tmp_path / "home"


def test_nothing_is_due_until_an_input_changes(home, tmp_path, monkeypatch):
    assert build_state.what_changed() == ["no successful build recorded"]
    build_state.record_downstream_done()
    assert build_state.what_changed() == []
    # a write to the warehouse (a load, a hand edit) makes it due
    stamp = paths.warehouse_path().stat()
    os.utime(paths.warehouse_path(), ns=(stamp.st_atime_ns, stamp.st_mtime_ns + 1_000_000))
    assert build_state.what_changed() == ["warehouse"]
    build_state.record_downstream_done()
    # a new as-of day re-evaluates the agreements
    monkeypatch.setenv("SLEDS_AS_OF_DATE", "2031-01-01")
    assert build_state.what_changed() == ["as_of"]
    monkeypatch.delenv("SLEDS_AS_OF_DATE")
    # a release file removed or rewritten out there
    (paths.releases_dir() / "sleds" / "manifest.json").unlink()
    assert build_state.what_changed() == ["releases"]
    build_state.record_downstream_done()
    # a registry elsewhere with the same files changes nothing; an edit of it does
    folder = tmp_path / "registry"
    folder.mkdir()
    for name in build_state.REGISTRY_FILES:
        (folder / name).write_bytes((paths.SEEDS_DIR / name).read_bytes())
    monkeypatch.setenv("SLEDS_AGREEMENTS_DIR", str(folder))
    assert build_state.what_changed() == []
    with (folder / "agreements.csv").open("a") as handle:
        handle.write("\n")
    assert build_state.what_changed() == ["registry"]
    build_state.forget_downstream()
    assert build_state.what_changed() == ["no successful build recorded"]


def test_the_code_stamp_covers_code_and_reference_data_but_not_the_registry():
    covered = set(build_state.code_files())
    assert {"orchestration/runner.py", "seeds/code_sets.csv", "expectations/msds.json",
            "dbt_project/models/marts/k12/fct_k12_accountability_students.sql"} <= covered  # fmt: skip
    assert not [f for f in covered if f.startswith("dbt_project/target") or "__pycache__" in f]
    assert not {f"seeds/{name}" for name in build_state.REGISTRY_FILES} & covered
    assert len(build_state.code_stamp()) == 64
