"""The vault is encrypted at rest with a key kept outside SLEDS_HOME, and everything a
build writes is its owner's alone (DOMAIN §5: encryption at rest, access controls)."""

from __future__ import annotations

import csv
import os
import shutil
from pathlib import Path

import duckdb
import pytest

from orchestration.lib import sealing, vault_at_rest
from orchestration.lib.identity.project_ids import ProjectKeyError, create_project_key, key_file, load_project_key
from orchestration.lib.identity.project_ids import key_file as project_key_file
from orchestration.lib.sealing import SealError, seal_bytes, seal_file, unseal_bytes, unseal_file, write_new_key
from tests.conftest import copy_home


@pytest.fixture()
def key(tmp_path, monkeypatch) -> bytes:
    monkeypatch.setenv("SLEDS_HOME", str(tmp_path / "home"))
    return write_new_key(tmp_path / "keys" / "a.key", tmp_path / "home")


def test_a_sealed_file_opens_only_whole_unchanged_and_with_its_key(tmp_path, key, monkeypatch):
    monkeypatch.setattr(sealing, "CHUNK", 1000)  # many chunks from a small file
    plain = tmp_path / "plain.bin"
    plain.write_bytes(os.urandom(4500))
    sealed, back = tmp_path / "x.sealed", tmp_path / "back.bin"
    seal_file(plain, sealed, key)
    assert sealed.stat().st_mode & 0o777 == 0o600
    unseal_file(sealed, back, key)
    assert back.read_bytes() == plain.read_bytes()
    data = sealed.read_bytes()
    chunk = 4 + 1000 + 16

    def refused(damaged: bytes, with_key: bytes = key) -> str:
        bad = tmp_path / "bad.sealed"
        bad.write_bytes(damaged)
        with pytest.raises(SealError) as err:
            unseal_file(bad, tmp_path / "out.bin", with_key)
        assert not (tmp_path / "out.bin").exists() and not list(tmp_path.glob(".out.bin.*"))  # nothing half-written
        return str(err.value)

    flipped = bytearray(data)
    flipped[100] ^= 1
    assert "does not authenticate at chunk 0" in refused(bytes(flipped))
    assert "does not authenticate" in refused(data[: 24 + 2 * chunk])  # cut at a chunk boundary
    assert "cut short" in refused(data[: 24 + 2 * chunk + 2])
    swapped = data[:24] + data[24 + chunk : 24 + 2 * chunk] + data[24 : 24 + chunk] + data[24 + 2 * chunk :]
    assert "does not authenticate at chunk 0" in refused(swapped)
    other = write_new_key(tmp_path / "keys" / "b.key", tmp_path / "home")
    assert "sealed with another key" in refused(data, other)
    assert "not a sealed SLEDS file" in refused(b"not sealed at all, long enough to have a header")


def test_the_key_must_live_outside_the_home_and_be_the_owners_alone(tmp_path):
    home = tmp_path / "home"
    with pytest.raises(SealError, match="inside SLEDS_HOME"):
        write_new_key(home / "secrets" / "vault.key", home)
    path = tmp_path / "keys" / "vault.key"
    write_new_key(path, home)
    assert path.stat().st_mode & 0o777 == 0o600
    assert sealing.read_key(path, home)
    path.chmod(0o644)
    with pytest.raises(SealError, match="readable by others"):
        sealing.read_key(path, home)
    with pytest.raises(SealError, match="no vault key"):
        sealing.read_key(tmp_path / "keys" / "missing.key", home)


def _feed_pii(tiny_feeds: Path) -> set[str]:
    """Names and SSNs as the feeds carry them (the vault must hold them, sealed)."""
    values: set[str] = set()
    for path in sorted((tiny_feeds / "landing").rglob("*.csv"))[:6]:
        with path.open(newline="") as f:
            for row in csv.DictReader(f):
                for column in ("last_name", "first_name", "ssn"):
                    value = (row.get(column) or "").strip()
                    if len(value) >= 5:
                        values.add(value)
    return values


@pytest.mark.integration
def test_a_built_vault_is_sealed_unreadable_without_its_key_and_private(tiny_warehouse, tiny_feeds, tmp_path):
    vault = tiny_warehouse / "vault" / "vault.duckdb"
    sealed = vault_at_rest.sealed_path(vault)
    assert sealed.exists() and not vault.exists()
    with pytest.raises(duckdb.Error):
        duckdb.connect(str(sealed), read_only=True).execute("select 1 from landing.msds_identity").fetchall()
    pii = _feed_pii(tiny_feeds)
    assert len(pii) > 20
    data = sealed.read_bytes()
    assert [v for v in pii if v.encode() in data] == []
    # another key opens nothing; the build's key opens the identities
    other = write_new_key(tmp_path / "other.key", tiny_warehouse)
    with pytest.raises(SealError, match="another key"):
        unseal_file(sealed, tmp_path / "v.duckdb", other)
    unseal_file(sealed, tmp_path / "v.duckdb", vault_at_rest.vault_key(create=False))
    with duckdb.connect(str(tmp_path / "v.duckdb"), read_only=True) as con:
        assert con.execute("select count(*) from landing.msds_identity").fetchone()[0] > 0
    # files 0600, folders 0700, everywhere the build wrote (and the key)
    loose = [
        f"{p.relative_to(tiny_warehouse)} {oct(p.stat().st_mode & 0o777)}"
        for p in [tiny_warehouse, *tiny_warehouse.rglob("*")]
        if not p.is_symlink() and p.stat().st_mode & 0o077
    ]
    assert loose == []
    assert sealing.key_path().stat().st_mode & 0o777 == 0o600


@pytest.mark.integration
def test_key_rotation_reseals_the_vault_and_a_cut_rotation_still_opens(tiny_warehouse, tmp_path, monkeypatch):
    home = copy_home(tiny_warehouse, tmp_path / "home")
    key_file = tmp_path / "keys" / "vault.key"
    key_file.parent.mkdir(mode=0o700)
    shutil.copy2(sealing.key_path(), key_file)
    monkeypatch.setenv("SLEDS_HOME", str(home))
    monkeypatch.setenv("SLEDS_VAULT_KEY_FILE", str(key_file))
    vault = home / "vault" / "vault.duckdb"
    sealed = vault_at_rest.sealed_path(vault)
    old = sealing.read_key(key_file, home)
    create_project_key("P7")
    project_key = load_project_key("P7")

    from orchestration import cli

    assert cli.main(["vault", "rotate-key"]) == 0  # what a steward runs
    assert load_project_key("P7") == project_key  # re-sealed, not replaced
    new = sealing.read_key(key_file, home)
    assert new != old and not vault_at_rest.next_key_path().exists()
    with pytest.raises(SealError, match="another key"):
        unseal_file(sealed, tmp_path / "x.duckdb", old)

    def cut_rotation(current: bytes, scratch: Path) -> bytes:
        """A rotation cut after the project keys and the vault were re-sealed under the
        next key, before that key took the old one's place."""
        upcoming = write_new_key(vault_at_rest.next_key_path(), home)
        seal_bytes(unseal_bytes(project_key_file("P7"), current), project_key_file("P7"), upcoming)
        unseal_file(sealed, scratch, current)
        seal_file(scratch, sealed, upcoming)
        return upcoming

    newer = cut_rotation(new, tmp_path / "scratch.duckdb")
    vault_at_rest.ensure_working_copy(vault)  # what the next stage to open the vault does
    assert sealing.read_key(key_file, home) == newer and not vault_at_rest.next_key_path().exists()
    with duckdb.connect(str(vault), read_only=True) as con:
        assert con.execute("select count(*) from landing.msds_identity").fetchone()[0] > 0
    # only read since it was unsealed: sealing leaves the sealed file as it was
    before = sealed.read_bytes()
    assert vault_at_rest.seal(vault) == "unchanged" and sealed.read_bytes() == before and not vault.exists()

    # cut at the same point again, and the steward reruns the rotation: it is finished with
    # the key it began (the only one the vault opens with now), never begun anew
    newest = cut_rotation(newer, tmp_path / "scratch2.duckdb")
    assert cli.main(["vault", "rotate-key"]) == 0
    assert sealing.read_key(key_file, home) == newest and load_project_key("P7") == project_key
    unseal_file(sealed, tmp_path / "check.duckdb", newest)


@pytest.mark.integration
def test_a_working_copy_in_use_or_under_a_stranger_key_is_not_sealed(tiny_warehouse, tmp_path, monkeypatch):
    import subprocess
    import sys

    home = copy_home(tiny_warehouse, tmp_path / "home")
    monkeypatch.setenv("SLEDS_HOME", str(home))
    vault, own_key = home / "vault" / "vault.duckdb", os.environ["SLEDS_VAULT_KEY_FILE"]
    vault_at_rest.ensure_working_copy(vault)
    with duckdb.connect(str(vault)) as con:
        con.execute("CREATE TABLE landing.steward_note AS SELECT 1 AS x")  # changed since unsealed
    hold = (
        "import duckdb, sys, time; c = duckdb.connect(sys.argv[1], read_only=True); print(1, flush=True); "
        "time.sleep(60)"
    )
    holder = subprocess.Popen([sys.executable, "-c", hold, str(vault)], stdout=subprocess.PIPE, text=True)
    try:
        holder.stdout.readline()
        assert vault_at_rest.seal(vault) == "in use" and vault.exists()  # never pulled from under a reader
    finally:
        holder.kill()
        holder.wait()
    # a shell whose SLEDS_VAULT_KEY_FILE names another key must not seal the vault under it
    monkeypatch.setenv("SLEDS_VAULT_KEY_FILE", str(tmp_path / "elsewhere" / "vault.key"))
    write_new_key(tmp_path / "elsewhere" / "vault.key", home)
    with pytest.raises(SealError, match="not the one"):
        vault_at_rest.seal(vault)
    assert vault.exists()
    monkeypatch.setenv("SLEDS_VAULT_KEY_FILE", own_key)
    assert vault_at_rest.seal(vault) == "sealed" and not vault.exists()


def test_a_project_key_is_sealed_with_the_vault_key(tmp_path, monkeypatch):
    monkeypatch.setenv("SLEDS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SLEDS_VAULT_KEY_FILE", str(tmp_path / "keys" / "vault.key"))
    path = create_project_key("P1")
    key = load_project_key("P1")
    assert path == key_file("P1") and path.stat().st_mode & 0o777 == 0o600
    assert key.hex().encode() not in path.read_bytes() and key not in path.read_bytes()
    monkeypatch.setenv("SLEDS_VAULT_KEY_FILE", str(tmp_path / "keys" / "someone-elses.key"))
    write_new_key(tmp_path / "keys" / "someone-elses.key", tmp_path / "home")
    with pytest.raises(ProjectKeyError, match="cannot be unsealed") as err:
        load_project_key("P1")
    assert key.hex() not in str(err.value)


def test_an_older_plain_project_key_is_sealed_in_place_not_replaced(tmp_path, monkeypatch):
    from orchestration.lib.identity.project_ids import plain_key_file

    monkeypatch.setenv("SLEDS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SLEDS_VAULT_KEY_FILE", str(tmp_path / "keys" / "vault.key"))
    plain = plain_key_file("P2")
    plain.parent.mkdir(parents=True)
    plain.write_text("ab" * 32 + "\n")
    assert load_project_key("P2") == bytes.fromhex("ab" * 32)
    assert not plain.exists() and key_file("P2").exists() and b"abab" not in key_file("P2").read_bytes()
    assert load_project_key("P2") == bytes.fromhex("ab" * 32)  # the same project IDs as before
