"""An exact integer attacker (tests/attacker.py), reading public folders with their own
contents as its only knowledge, recovers what naive suppression leaves and nothing from the
engine's releases: every known failure case, the whole tiny public folder, and sampled
components of the demo's (tests/test_e2e_demo.py)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from orchestration.lib import paths
from orchestration.lib.disclosure import run_suppression, suppress_tables
from orchestration.lib.publish.release import PUBLIC_COLUMNS
from tests import attacker
from tests.disclosure_cases import all_cases

OUTSIDER_CASES = [c for c in all_cases() if c.name != "j_insider_singleton"]  # an insider knows more than the folder


def public_rows(cells, release: str = "0") -> list[dict[str, str]]:
    """The cells as a reader reads them from the published CSV."""
    text = cells[PUBLIC_COLUMNS].to_csv(index=False)
    return [r | {"release": release} for r in csv.DictReader(io.StringIO(text))]


def seeds() -> tuple[dict[str, int], list[dict[str, str]]]:
    policies = attacker.read_seed(paths.SEEDS_DIR / "suppression_policies.csv")
    relations = attacker.read_seed(paths.SEEDS_DIR / "publish_relations.csv")
    return {r["policy"]: int(r["min_n"]) for r in policies}, relations


def attack_rows(rows, **kwargs):
    min_n, relations = seeds()
    program = attacker.build_program(rows, min_n, relations)
    return attacker.attack(program, attacker.components(program), **kwargs)


def attack_folder(folder: Path, **kwargs):
    return attack_rows(attacker.read_folder(folder), **kwargs)


@pytest.mark.parametrize("case", OUTSIDER_CASES, ids=lambda c: c.name)
def test_the_attacker_recovers_what_naive_suppression_leaves_and_nothing_from_the_engine(case):
    prior_cells = suppress_tables(case.prior_tables) if case.prior_tables else None
    prior = public_rows(prior_cells, "earlier") if prior_cells is not None else []
    found, _ = attack_rows(public_rows(case.naive(case.tables)) + prior)
    assert [f for f in found if f.verdict == "recovered"], f"{case.name}: the naive release gave the attacker nothing"
    engine = run_suppression(case.tables, prior_releases=[prior_cells] if prior_cells is not None else [])
    found, checked = attack_rows(public_rows(engine.cells) + prior)
    assert checked > 0 and found == [], f"{case.name}: {found}"


def test_the_attacker_reads_the_percentages_as_rounded_half_up():
    assert attacker.percent_range("37%") == (37, 37)
    assert attacker.percent_range("60-69%") == (60, 69)
    assert attacker.percent_range("<=5%") == (0, 5)
    assert attacker.percent_range(">=95%") == (95, 100)
    with pytest.raises(ValueError, match="unreadable"):
        attacker.percent_range("about 40%")


@pytest.mark.integration
def test_an_exact_attacker_on_the_tiny_public_folder_recovers_no_hidden_cell(tiny_warehouse):
    folder = tiny_warehouse / "releases" / "public"
    rows = attacker.read_folder(folder)
    assert rows and sum(r["display"] == "*" for r in rows) > 100  # hidden cells to attack
    found, checked = attack_folder(folder)
    assert checked >= sum(r["display"] == "*" for r in rows)  # every hidden count and rate, plus hidden sums
    assert found == [], found[:10]
