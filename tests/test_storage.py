"""The storage module: release folders swapped in whole, manifest hashes, the vault gate,
connections that close, and the hashing every stage shares."""

import hashlib
import json
import re
from pathlib import Path

import duckdb
import pytest

from orchestration.lib import paths, storage


def _call_as(module: str, fn, *args, **kwargs):
    """Call fn from code whose module is `module` (what the vault gate looks at)."""
    namespace = {"__name__": module, "fn": fn, "args": args, "kwargs": kwargs}
    exec(compile("result = fn(*args, **kwargs)", f"<{module}>", "exec"), namespace)
    return namespace["result"]


def _leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if p.name.startswith((".staging-", ".old-")))


def _write_two_files(folder: Path) -> None:
    (folder / "tables").mkdir()
    (folder / "tables" / "a.csv").write_text("x\n1\n")
    (folder / "b.bin").write_bytes(bytes(range(256)) * 100)


# ------------------------------------------------------------ release folders


def test_release_folder_manifest_lists_every_file_with_its_hash(tmp_path):
    final = tmp_path / "releases" / "sleds"
    written = storage.write_release_folder(final, _write_two_files, {"release": "r", "files": {}, "run_id": "1"})
    on_disk = json.loads((final / "manifest.json").read_text())
    assert on_disk == written
    assert list(on_disk) == ["release", "files", "run_id"], "the manifest keeps its key order"
    assert on_disk["files"] == {
        rel: hashlib.sha256((final / rel).read_bytes()).hexdigest() for rel in ("b.bin", "tables/a.csv")
    }
    assert _leftovers(final.parent) == []


def test_release_folder_callable_manifest_and_unhashed_paths(tmp_path):
    final = tmp_path / "public"

    def write(folder):
        _write_two_files(folder)
        (folder / "history").mkdir()
        (folder / "history" / "old.parquet").write_bytes(b"earlier publication")

    written = storage.write_release_folder(final, write, lambda files: {"files": files, "n": len(files)},
                                           unhashed=["history"])  # fmt: skip
    assert written == {"files": written["files"], "n": 2}
    assert set(written["files"]) == {"b.bin", "tables/a.csv"}
    assert (final / "history" / "old.parquet").exists()


def test_a_failed_write_leaves_the_old_release_and_no_staging(tmp_path):
    final = tmp_path / "releases" / "sleds"
    storage.write_release_folder(final, _write_two_files, {"release": "first"})
    before = {p.relative_to(final): p.read_bytes() for p in final.rglob("*") if p.is_file()}

    def half_then_fail(folder):
        (folder / "b.bin").write_bytes(b"half written")
        raise RuntimeError("export failed")

    with pytest.raises(RuntimeError, match="export failed"):
        storage.write_release_folder(final, half_then_fail, {"release": "second"})
    assert {p.relative_to(final): p.read_bytes() for p in final.rglob("*") if p.is_file()} == before
    assert _leftovers(final.parent) == []


def test_a_failed_swap_puts_the_old_release_back(tmp_path, monkeypatch):
    final = tmp_path / "public"
    storage.write_release_folder(final, _write_two_files, {"release": "first"})
    real_rename = Path.rename

    def rename(self, target):
        if self.parent.name.startswith(".staging-"):  # the staged folder moving in
            raise OSError("disk went away")
        return real_rename(self, target)

    monkeypatch.setattr(Path, "rename", rename)
    with pytest.raises(OSError, match="disk went away"):
        storage.write_release_folder(final, _write_two_files, {"release": "second"})
    assert json.loads((final / "manifest.json").read_text())["release"] == "first"
    assert _leftovers(tmp_path) == []


def test_staged_folders_swap_in_together_or_not_at_all(tmp_path):
    root = tmp_path / "institutions"
    staged = [
        storage.stage_release_folder(root / code, _write_two_files, {"code": code}, staging_parent=tmp_path)
        for code in ("100", "200")
    ]
    # staged beside, not inside, the folder readers list; named like the final folder
    assert not root.exists() and [s.path.name for s in staged] == ["100", "200"]
    staged[0].discard()
    staged[1].swap_in()
    assert sorted(p.name for p in root.iterdir()) == ["200"]
    assert _leftovers(tmp_path) == []


# ----------------------------------------------------------------- the vault


def _stores(tmp_path):
    wh, vault = tmp_path / "warehouse.duckdb", tmp_path / "vault" / "vault.duckdb"
    for path in (wh, vault):
        path.parent.mkdir(parents=True, exist_ok=True)
        with duckdb.connect(str(path)) as con:
            con.execute("CREATE TABLE t AS SELECT 1 AS x")
    return wh, vault


@pytest.mark.parametrize(
    "module",
    [
        "orchestration.lib.releases.export",
        "orchestration.lib.publish.release",
        "orchestration.lib.governance.query_access",
        "orchestration.lib.governance.report",
        "orchestration.lib.governance.extract",
        "orchestration.defs.releases",
    ],
)
def test_modules_outside_the_vault_side_cannot_open_the_vault(tmp_path, module):
    wh, vault = _stores(tmp_path)
    with pytest.raises(storage.VaultAccessRefused, match=rf"{re.escape(module)} may not open the vault"):
        _call_as(module, storage.warehouse_with_vault, wh, vault)
    with pytest.raises(storage.VaultAccessRefused, match="may not open the vault"):
        _call_as(module, storage.vault, vault)


def test_a_test_or_script_is_refused_too(tmp_path):
    wh, vault = _stores(tmp_path)
    with pytest.raises(storage.VaultAccessRefused, match="only the vault-side stages"):
        storage.warehouse_with_vault(wh, vault)


def test_a_reading_stage_may_not_write_the_vault(tmp_path):
    wh, vault = _stores(tmp_path)
    with pytest.raises(storage.VaultAccessRefused, match="may read the vault but not write it"):
        _call_as("orchestration.lib.derived.ages", storage.warehouse_with_vault, wh, vault, vault_access="write")


def test_a_vault_side_stage_gets_both_stores_under_their_aliases(tmp_path, monkeypatch):
    monkeypatch.setenv("SLEDS_DUCKDB_MEMORY", "1GB")
    wh, vault = _stores(tmp_path)
    con = _call_as("orchestration.lib.derived.ages", storage.warehouse_with_vault, wh, vault, vault_access="read")
    with con:
        assert con.execute("SELECT (SELECT x FROM wh.t) + (SELECT x FROM vault.t)").fetchone()[0] == 2
        con.execute("CREATE TABLE wh.written AS SELECT 1")  # the warehouse is writable by default
        with pytest.raises(duckdb.Error):
            con.execute("CREATE TABLE vault.written AS SELECT 1")  # read access is read-only
        assert con.execute("SELECT current_setting('memory_limit')").fetchone()[0] in ("1.0 GiB", "953.6 MiB")
        # what such a connection spills holds PII: it spills inside the vault's own folder
        spill = Path(con.execute("SELECT current_setting('temp_directory')").fetchone()[0])
        assert spill == vault.parent / "tmp" and spill.stat().st_mode & 0o077 == 0
    writer = _call_as("orchestration.lib.identity.review", storage.vault, vault, access="write")
    with writer:
        writer.execute("INSERT INTO t VALUES (2)")


def test_nothing_but_storage_attaches_the_vault_or_hashes_by_hand():
    lib = paths.REPO_ROOT / "orchestration" / "lib"
    # the independent audit recomputes the published files' hashes itself rather than
    # trusting the code that wrote them
    independent = {lib / "disclosure" / "audit" / "folder.py"}
    offenders = []
    for path in lib.rglob("*.py"):
        if path.name in ("storage.py", "vault_at_rest.py") or path in independent:  # vault_at_rest: the vault's file
            continue
        text = path.read_text()
        if re.search(r"ATTACH[^\n]*AS vault|duckdb\.connect\([^)\n]*vault", text):
            offenders.append(f"{path.relative_to(lib)}: opens the vault")
        if "hashlib.sha256(" in text or "hashlib.sha256()" in text:
            offenders.append(f"{path.relative_to(lib)}: hashes with hashlib (use storage.sha256_*)")
    assert offenders == []


# ---------------------------------------------------------------- connections


def test_connections_close_on_exit_and_on_error(tmp_path):
    wh, _ = _stores(tmp_path)
    with storage.warehouse(wh) as con:
        assert con.execute("SELECT x FROM t").fetchone()[0] == 1
    with pytest.raises(duckdb.ConnectionException):
        con.execute("SELECT 1")
    with pytest.raises(RuntimeError, match="stage failed"):
        with storage.warehouse_attached(wh) as attached:
            assert attached.execute("SELECT x FROM wh.t").fetchone()[0] == 1
            raise RuntimeError("stage failed")
    with pytest.raises(duckdb.ConnectionException):
        attached.execute("SELECT 1")
    # closed, the file is free for a writer again
    with storage.warehouse(wh, read_only=False) as writer:
        writer.execute("INSERT INTO t VALUES (2)")


def test_read_only_connections_cannot_write(tmp_path):
    wh, _ = _stores(tmp_path)
    with storage.warehouse(wh) as con, pytest.raises(duckdb.Error):
        con.execute("INSERT INTO t VALUES (2)")
    with storage.release_reader(wh, warehouse=wh) as con:
        assert con.execute("SELECT (SELECT x FROM rel.t) + (SELECT x FROM wh.t)").fetchone()[0] == 2
        with pytest.raises(duckdb.Error):
            con.execute("INSERT INTO rel.t VALUES (2)")


def test_a_sandboxed_release_file_reads_no_other_file(tmp_path):
    wh, _ = _stores(tmp_path)
    (tmp_path / "other.csv").write_text("a\n1\n")
    with storage.release_file(wh, sandboxed=True) as con:
        assert con.execute("SELECT x FROM t").fetchone()[0] == 1
        with pytest.raises(duckdb.Error):
            con.execute(f"SELECT * FROM read_csv('{tmp_path / 'other.csv'}')")


# -------------------------------------------------------------------- hashing


def test_hashes_agree_with_hashlib(tmp_path):
    data = bytes(range(256)) * 1000
    (tmp_path / "f").write_bytes(data)
    expected = hashlib.sha256(data).hexdigest()
    assert storage.sha256_file(tmp_path / "f", block=1000) == expected  # streamed in many blocks
    assert storage.sha256_bytes(data) == expected == storage.sha256_bytes(data[:7], data[7:])
    assert storage.sha256_json({"b": 1, "a": "é"}) == storage.sha256_json({"a": "é", "b": 1})
    assert storage.canonical_json({"b": 1, "a": "é"}) == '{"a":"é","b":1}'.encode()


def test_a_file_another_process_holds_is_waited_for_then_named(tmp_path, monkeypatch, capsys):
    """DuckDB allows one writer or readers per file: a `sleds query --warehouse` during a
    build is a wait with one line, and past SLEDS_LOCK_WAIT_S a clear error naming the PID."""
    import subprocess
    import sys

    path = tmp_path / "warehouse.duckdb"
    duckdb.connect(str(path)).execute("CREATE TABLE t AS SELECT 1 AS x").close()
    hold = ("import duckdb, sys, time; c = duckdb.connect(sys.argv[1], read_only=True); print('open', flush=True); "
            "time.sleep(float(sys.argv[2]))")  # fmt: skip
    reader = subprocess.Popen([sys.executable, "-c", hold, str(path), "1.5"], stdout=subprocess.PIPE, text=True)
    assert reader.stdout.readline().strip() == "open"
    monkeypatch.setenv("SLEDS_LOCK_WAIT_S", "30")
    with storage.warehouse(path, read_only=False) as con:  # waits for the reader to close
        con.execute("INSERT INTO t VALUES (2)")
    reader.wait()
    assert f"is open in another process (PID {reader.pid})" in capsys.readouterr().err
    reader = subprocess.Popen([sys.executable, "-c", hold, str(path), "10"], stdout=subprocess.PIPE, text=True)
    try:
        assert reader.stdout.readline().strip() == "open"
        monkeypatch.setenv("SLEDS_LOCK_WAIT_S", "0.5")
        with pytest.raises(storage.FileBusy, match=f"PID {reader.pid}.*SLEDS_LOCK_WAIT_S"):
            storage.warehouse(path, read_only=False)
    finally:
        reader.kill()
        reader.wait()
