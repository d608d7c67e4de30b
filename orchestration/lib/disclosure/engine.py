"""The suppression engine: policies from seeds, complementary suppression to an audited fixpoint.

    run = run_suppression(tables, prior_releases=[last_years_output])
    run.cells      # one row per input cell: status, display, reason, rule_id, n_published, n_display, n_reason
    run.audit      # the independent audit of exactly that output (must pass before anything is written)

Steps (docs/suppression.md has the full story):
1. primary rules per cell and policy (min n, zero cells, counts of other information);
2. percentages coded by the policy's size bands (whole %, top/bottom codes, intervals);
3. heuristics to a fixpoint: a link (row or hierarchy sum) with one hidden member gets a
   complement; hidden parts under a published total must add up to min_n or more (NCES 2b,
   which also un-pins suppressed zeros); NCES 6/7 cross-school and cross-district
   consistency; recodes that would reveal a count (policy conflicts);
4. the LP audit of the whole release (with earlier releases); every disclosed cell gets a
   complement next to it, and the loop repeats until the audit passes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from orchestration.lib.disclosure.audit import AuditResult, audit_release, related_populations, target_key
from orchestration.lib.disclosure.complement import Link, build_links, choose, cost_function, index_links, split_groups
from orchestration.lib.disclosure.percent import Coded, code_percent, numerator_range
from orchestration.lib.disclosure.policy import Policy, load_policies, policy_named
from orchestration.lib.disclosure.primary import band_or_fail, count_primary, rate_primary, smallest_related
from orchestration.lib.disclosure.relations import Relation, load_relations, related_pairs
from orchestration.lib.disclosure.tables import KEY_COLUMNS, OUTPUT_COLUMNS, SummaryTable, TableError, normalised_cells

MODES = ("full", "row", "none")
SEP = "\x1f"
CONFLICT = "POLICY_CONFLICT_RECODE_REVEALS_COUNT"
LINK_REASON = {"row": "COMPLEMENTARY_ROW", "hierarchy": "COMPLEMENTARY_HIERARCHY", "relation": "COMPLEMENTARY_RELATED"}


class DisclosureError(RuntimeError):
    """The engine could not reach a release the audit passes."""


@dataclass
class SuppressionRun:
    cells: pd.DataFrame
    audit: AuditResult | None
    iterations: int

    @property
    def passed(self) -> bool:
        return self.audit is not None and self.audit.passed


def suppress_tables(tables: list[SummaryTable], **kwargs) -> pd.DataFrame:
    """The suppressed output of several tables at once (see run_suppression for the options)."""
    return run_suppression(tables, **kwargs).cells


def run_suppression(
    tables: list[SummaryTable],
    *,
    prior_releases: list[pd.DataFrame] | tuple = (),
    policies: dict[str, Policy] | None = None,
    complementary: str = "full",
    max_iterations: int = 30,
    backend: str = "auto",
    audit: bool = True,
    relations: list[Relation] | None = None,
    insiders: bool = True,
    progress: Callable[[str], None] | None = None,
) -> SuppressionRun:
    """Suppress `tables` together (tables sharing a population share students).

    complementary: 'full' (the engine), or the naive baselines the tests compare against:
    'row' (hide the next-smallest cell of a row holding a single suppressed cell; nothing
    else) and 'none' (primary suppression only).
    prior_releases: earlier published outputs; their published cells count as known and
    their suppressed cells stay protected.
    relations: population relations between tables (default seeds/publish_relations.csv):
    a count tied to a hidden one by an equality is hidden too, and the audit-driven
    complements look across them.
    insiders: audit against the insider reader too (audit/insider.py); off only to show
    what an outsider-only audit lets through.
    progress: told what each audit round is doing (the publish step's log).
    """
    if complementary not in MODES:
        raise ValueError(f"complementary must be one of {MODES}, got {complementary!r}")
    relations = load_relations() if relations is None else relations
    run = _Run(tables, list(prior_releases), policies or load_policies(), complementary, relations)
    run.insiders = insiders
    run.progress = progress or (lambda message: None)
    iterations, result = run.solve(max_iterations, backend, audit)
    return SuppressionRun(run.output(), result, iterations)


class _Run:
    def __init__(self, tables, priors, policies, mode, relations=()):
        if not tables:
            raise TableError("no tables to suppress")
        ids = [t.table_id for t in tables]
        if len(set(ids)) != len(ids):
            raise TableError(f"table ids must be unique, got {ids}")
        self.tables, self.priors, self.policies, self.mode = tables, priors, policies, mode
        self.relations = list(relations)
        self.insiders = True
        self.progress: Callable[[str], None] = lambda message: None
        frames = []
        for tix, table in enumerate(tables):
            policy_named(policies, table.policy, table.table_id)
            cells = normalised_cells(table)
            cells["tix"] = tix
            cells["other_information"] = bool(table.other_information)
            frames.append(cells)
        df = pd.concat(frames, ignore_index=True)
        self.df = df
        self.pol = [policies[p] for p in df["policy"]]
        self.n = df["n"].to_numpy()
        self.num = df["numerator"].fillna(0).astype(np.int64).to_numpy()
        self.rate = (df["measure"] == "rate").to_numpy()
        self.table_of = df["table_id"].to_numpy()
        self.population_of = df["population"].to_numpy()
        self.shows_count = ~self.rate | np.array([p.counts_with_rates for p in self.pol])
        # earlier releases join the structure: their cells link to ours, and theirs stay protected
        prior = self._prior_rows()
        everything = pd.concat([df[prior.columns.drop(["count_text", "rate_text"])], prior], ignore_index=True)
        ckey = (
            everything["population"]
            + SEP
            + everything["unit_id"]
            + SEP
            + everything["grouping"]
            + SEP
            + everything["category"]
        )
        nkey = everything["population"] + SEP + everything["outcome"] + SEP + ckey.str.split(SEP, n=1).str[1]
        all_rate = (everything["measure"] == "rate").to_numpy()
        cq_all, self.ckeys = pd.factorize(ckey)
        nq_all = np.full(len(everything), -1, dtype=np.int64)
        codes, self.nkeys = pd.factorize(nkey[all_rate])
        nq_all[all_rate] = codes
        everything["cq"], everything["nq"] = cq_all, nq_all
        rows = len(df)
        self.cq, self.nq = cq_all[:rows], nq_all[:rows]
        df["cq"], df["nq"] = self.cq, self.nq
        self.cindex = {k: i for i, k in enumerate(self.ckeys)}
        self.nindex = {k: i for i, k in enumerate(self.nkeys)}
        nc, nn = len(self.ckeys), len(self.nkeys)
        # quantity state: 'published', 'suppressed' or 'hidden' (never displayed)
        self.state = {"c": np.full(nc, "hidden", dtype=object), "n": np.full(nn, "hidden", dtype=object)}
        self.state["c"][self.cq[self.shows_count]] = "published"
        self.state["n"][self.nq[self.rate]] = "published"
        self.frozen = {"c": set(range(nc)) - set(self.cq.tolist()), "n": set(range(nn)) - set(self.nq.tolist())}
        self.prior_published = {"c": set(), "n": set()}
        self.prior_suppressed = {"c": set(), "n": set()}
        old = everything.iloc[rows:]
        for cq, nq, measure, count_text, rate_text in zip(
            old["cq"], old["nq"], old["measure"], prior["count_text"], prior["rate_text"], strict=True
        ):
            if count_text:
                self._note_prior("c", int(cq), count_text != "*")
            if measure == "rate":
                self._note_prior("n", int(nq), rate_text != "*")
        self.why = {"c": [None] * nc, "n": [None] * nn}  # (reason, rule_id, origin table)
        self.pinned = {"c": set(), "n": set()}  # complements shown again because the reader pins them anyway
        self.primary = {"c": np.zeros(nc, bool), "n": np.zeros(nn, bool)}
        self.size = {"c": np.zeros(nc, np.int64), "n": np.zeros(nn, np.int64)}
        self.size["c"][self.cq] = self.n
        self.size["n"][self.nq[self.rate]] = self.n[self.rate]
        self.value = {"c": self.size["c"], "n": np.zeros(nn, np.int64)}
        self.value["n"][self.nq[self.rate]] = self.num[self.rate]
        self.n2c = np.zeros(nn, np.int64)
        self.n2c[nq_all[all_rate]] = cq_all[all_rate]
        self.min_n = {"c": np.ones(nc, np.int64), "n": np.ones(nn, np.int64)}
        row_min = np.array([p.min_n for p in self.pol])
        np.maximum.at(self.min_n["c"], self.cq, row_min)
        np.maximum.at(self.min_n["n"], self.nq[self.rate], row_min[self.rate])
        self.first_table = {
            "c": everything.groupby("cq")["table_id"].first().to_dict(),
            "n": everything[all_rate].groupby("nq")["table_id"].first().to_dict(),
        }
        self.dirty: set[str] = set()
        self.links = {
            "c": build_links(everything, "cq") + self._relation_links(everything),
            "n": build_links(everything, "nq"),
        }
        self.where = {k: index_links(v, len(self.state[k])) for k, v in self.links.items()}
        self.totals = {k: {link.total for link in v if link.kind != "relation"} for k, v in self.links.items()}
        self.cost = {
            k: cost_function(
                self.size[k], self.prior_suppressed[k], self.totals[k], lambda q, k=k: self._lone_links(k, q)
            )
            for k in ("c", "n")
        }
        self._primaries()
        self._code_rates()
        self._families = self._consistency_families() if mode == "full" else []

    # ---- inputs -------------------------------------------------------------------------
    def _prior_rows(self) -> pd.DataFrame:
        """Rows of earlier releases: keys, structure and what they displayed."""
        cols = [
            "table_id",
            "population",
            "measure",
            "outcome",
            "unit_id",
            "parent_unit_id",
            "grouping",
            "category",
            "children_complete",
            "partitions_total",
        ]
        frames = []
        for k, prior in enumerate(self.priors, start=1):
            p = prior.copy()
            p["outcome"] = p["outcome"].fillna("").astype(str)
            p["parent_unit_id"] = p["parent_unit_id"].map(lambda v: None if v is None or pd.isna(v) else str(v))
            for col in ("population", "unit_id", "grouping", "category"):
                p[col] = p[col].astype(str)
            p["table_id"] = p["table_id"].astype(str) + f"@release-{k}"
            p["count_text"] = np.where(
                p["measure"] == "count", p["display"].astype(str), p["n_display"].fillna("").astype(str)
            )
            p["rate_text"] = p["display"].astype(str)
            frames.append(p[cols + ["count_text", "rate_text"]])
        if not frames:
            return pd.DataFrame(columns=cols + ["count_text", "rate_text"])
        return pd.concat(frames, ignore_index=True)

    def _relation_links(self, everything: pd.DataFrame) -> list[Link]:
        """Counts of different populations tied by a declared relation, within one publication:
        an equality is an exact link (hide one, hide the other), a subset an inexact one."""
        parts = everything["table_id"].str.partition("@")
        scoped = everything.assign(table_id=parts[0], release_tag=parts[2])
        pairs = related_pairs(scoped, self.relations, "cq", "release_tag")
        return [Link("relation", int(right), [int(left)], kind == "equal")
                for left, right, kind in pairs.itertuples(index=False)]  # fmt: skip

    def _note_prior(self, layer: str, q: int, published: bool) -> None:
        (self.prior_published if published else self.prior_suppressed)[layer].add(q)
        if q in self.frozen[layer]:  # only in an earlier release: known, or hidden for good
            if published:
                self.state[layer][q] = "published"
            elif self.state[layer][q] != "published":
                self.state[layer][q] = "suppressed"

    def _primaries(self) -> None:
        df = self.df
        self.row_primary = {"c": [None] * len(df), "n": [None] * len(df)}
        for i, (tid, grouping, other) in enumerate(
            zip(df["table_id"], df["grouping"], df["other_information"], strict=True)
        ):
            policy, n = self.pol[i], int(self.n[i])
            if self.shows_count[i]:
                hit = count_primary(n, policy, bool(other), grouping)
                if hit:
                    self.row_primary["c"][i] = hit
                    self._suppress("c", int(self.cq[i]), hit[0], hit[1], tid, primary=True)
            if self.rate[i]:
                hit = rate_primary(n, policy)
                if hit:
                    self.row_primary["n"][i] = hit
                    self._suppress("n", int(self.nq[i]), hit[0], hit[1], tid, primary=True)

    def _code_rates(self) -> None:
        self.related = smallest_related(self.df)
        self.band = [None] * len(self.df)
        self.coded: list[Coded | None] = [None] * len(self.df)
        self.coded_why: list[tuple[str, str] | None] = [None] * len(self.df)
        for i in np.flatnonzero(self.rate):
            if self.n[i] >= self.pol[i].min_n:
                self.band[i] = band_or_fail(self.pol[i], int(self.n[i]), int(self.related[i]), self.table_of[i])
                self.coded[i] = code_percent(int(self.num[i]), int(self.n[i]), self.band[i])

    # ---- state changes ------------------------------------------------------------------
    def _suppress(self, layer: str, q: int, reason: str, rule: str, origin: str, primary: bool = False) -> bool:
        if self.state[layer][q] != "published":
            if primary:
                self.primary[layer][q] = True
            return False
        self.state[layer][q] = "suppressed"
        self.why[layer][q] = (reason, rule, origin)
        self.primary[layer][q] = primary
        key = (self.ckeys if layer == "c" else self.nkeys)[q]
        self.dirty.add(key.split(SEP, 1)[0])
        return True

    def _known(self, layer: str, q: int) -> bool:
        return self.state[layer][q] == "published" or q in self.prior_published[layer]

    def _lone_links(self, layer: str, q: int) -> int:
        """Links of q (exact ones) whose only unknown member is a suppressed cell."""
        count = 0
        for li in self.where[layer][q]:
            link = self.links[layer][li]
            if not link.exact:
                continue
            unknown = [m for m in (link.total, *link.parts) if not self._known(layer, m)]
            count += len(unknown) == 1 and self.state[layer][unknown[0]] == "suppressed"
        return count

    def _open(self, layer: str, q: int) -> bool:
        """Can still be suppressed to some effect (shown now, never published before)."""
        return (
            self.state[layer][q] == "published"
            and q not in self.prior_published[layer]
            and q not in self.frozen[layer]
            and q not in self.pinned[layer]
        )

    # ---- heuristics ---------------------------------------------------------------------
    def _links_pass(self) -> bool:
        changed = False
        for layer in ("c", "n"):
            state = self.state[layer]
            for link in self.links[layer]:
                if not link.exact or (self.mode == "row" and link.kind != "row"):
                    continue
                members = [link.total, *link.parts]
                unknown = [q for q in members if not self._known(layer, q)]
                if not unknown:
                    continue
                kind = LINK_REASON[link.kind]
                rule = f"complementary.{link.kind}"
                origin = self.first_table[layer][unknown[0]]
                if len(unknown) == 1 and state[unknown[0]] == "suppressed":
                    pool = link.parts if self.mode == "row" else members
                    pick = choose([q for q in pool if self._open(layer, q)], self.cost[layer])
                    if pick is not None:
                        changed |= self._suppress(layer, pick, kind, rule, origin)
                    continue
                if self.mode == "row" or not self._known(layer, link.total):
                    continue
                if any(state[q] == "hidden" or q in self.frozen[layer] for q in unknown) or not any(
                    self.primary[layer][q] for q in unknown
                ):
                    continue
                if self._small_sum(layer, unknown, link):
                    pick = choose([q for q in link.parts if self._open(layer, q)], self.cost[layer])
                    if pick is None and self._open(layer, link.total):
                        pick = link.total
                    if pick is not None:
                        changed |= self._suppress(layer, pick, kind, "complementary.small_sum", origin)
        return changed

    def _small_sum(self, layer: str, unknown: list[int], link) -> bool:
        """Hidden parts under a known total whose sum would itself disclose a small group."""
        m = max(int(self.min_n[layer][q]) for q in [link.total, *link.parts])
        sizes = int(sum(self.size[layer][q] for q in unknown))
        if layer == "c":
            return sizes < m
        values = int(sum(self.value["n"][q] for q in unknown))
        sizes_known = all(self._known("c", int(self.n2c[q])) for q in unknown)
        return sizes < m or values == 0 or (values == sizes and sizes_known)

    def _consistency_families(self) -> list[tuple]:
        """(layer, parent row, child rows, rule id) per table with NCES 6/7 and (parent, grouping, category)."""
        df = self.df
        uses = np.array([p.consistency_rules for p in self.pol])
        sub = df[uses].reset_index()
        kids = sub[sub["parent_unit_id"].notna()]
        parent_units = set(kids["parent_unit_id"])
        joined = kids[["index", "tix", "unit_id", "parent_unit_id", "grouping", "category"]].merge(
            sub[["index", "tix", "unit_id", "grouping", "category"]].rename(
                columns={"index": "prow", "unit_id": "parent_unit_id"}
            ),
            on=["tix", "parent_unit_id", "grouping", "category"],
        )
        rows, prows, units = joined["index"].to_numpy(), joined["prow"].to_numpy(), joined["unit_id"].to_numpy()
        out = []
        for idx in split_groups(joined, ["tix", "parent_unit_id", "grouping", "category"]):
            prow = int(prows[idx[0]])
            # NCES 6: schools (leaves) within their district; NCES 7: districts (themselves parents) in the state
            inner = any(u in parent_units for u in units[idx].tolist())
            rule = f"{self.pol[prow].name}.{'7' if inner else '6'}"
            out.append(("n" if self.rate[prow] else "c", prow, rows[idx].tolist(), rule))
        return out

    def _q(self, layer: str, row: int) -> int:
        return int(self.cq[row] if layer == "c" else self.nq[row])

    def _consistency_pass(self) -> bool:
        changed = False
        for layer, prow, kids, rule in self._families:
            state = self.state[layer]
            tid = self.table_of[prow]
            hidden = [k for k in kids if state[self._q(layer, k)] == "suppressed"]
            if len(hidden) == 1 and state[self._q(layer, prow)] != "suppressed":
                pool = [self._q(layer, k) for k in kids if k != hidden[0]]
                pick = choose([q for q in pool if self._open(layer, q)], self.cost[layer])
                if pick is None and self._open(layer, self._q(layer, prow)):
                    pick = self._q(layer, prow)
                if pick is not None:
                    changed |= self._suppress(layer, pick, "COMPLEMENTARY_CONSISTENCY", rule, tid)
            if layer == "n":
                changed |= self._recode_consistency(prow, kids, rule)
        return changed

    def _recoded_now(self, row: int) -> bool:
        c = self.coded[row]
        return c is not None and c.status == "recoded" and self.state["n"][int(self.nq[row])] == "published"

    def _recode_consistency(self, prow: int, kids: list[int], rule: str) -> bool:
        coded = [k for k in kids if self._recoded_now(k)]
        if len(coded) != 1 or self._recoded_now(prow) or self.coded[prow] is None:
            return False
        band = self.band[coded[0]]
        others = sorted(
            (k for k in kids if k != coded[0] and self.coded[k] is not None and not self._recoded_now(k)),
            key=lambda k: self.n[k],
        )
        for row in [prow, *others]:
            if self.state["n"][int(self.nq[row])] != "published":
                continue
            again = code_percent(int(self.num[row]), int(self.n[row]), band)
            if again.status == "recoded":
                self.coded[row], self.band[row] = again, band
                self.coded_why[row] = ("RECODE_CONSISTENCY", rule)
                self.dirty.add(self.population_of[row])
                return True
        return False

    def _conflict_pass(self) -> bool:
        changed = False
        for i in np.flatnonzero(self.rate):
            if self._recoded_now(i) and self._known("c", int(self.cq[i])):
                lo, hi = numerator_range(int(self.n[i]), self.coded[i].lo, self.coded[i].hi)
                if lo == hi:
                    changed |= self._resolve_conflict(i)
        return changed

    def _resolve_conflict(self, i: int) -> bool:
        policy, tid = self.pol[i], self.table_of[i]
        rule = f"{policy.name}.recode_conflict"
        cq = int(self.cq[i])
        if policy.recode_conflict_action == "withhold_count" and self._open("c", cq):
            return self._suppress("c", cq, CONFLICT, rule, tid, primary=True)
        return self._suppress("n", int(self.nq[i]), CONFLICT, rule, tid, primary=True)

    # ---- audit-driven fixpoint ----------------------------------------------------------
    def solve(self, max_iterations: int, backend: str, run_audit: bool) -> tuple[int, AuditResult | None]:
        result: pd.DataFrame | None = None
        insider_safe: set[tuple[str, str]] = set()  # hiding more keeps them safe: not checked again
        for iteration in range(1, max_iterations + 1):
            while self.mode != "none":
                changed = self._links_pass()
                if self.mode == "full":
                    changed |= self._consistency_pass()
                    changed |= self._conflict_pass()
                if not changed:
                    break
            if not run_audit:
                return iteration, None
            output = self.output()
            # a re-audit covers the changed populations and every population related to them
            scope = None if result is None else related_populations([output, *self.priors], self.dirty, self.relations)
            self.dirty = set()
            # suppressing more only widens intervals: cells shown safe stay safe and are not recomputed
            safe = None if result is None else {target_key(r) for r in result[~result["disclosed"]].itertuples()}
            where = "every population" if scope is None else f"{len(scope)} population(s) that changed"
            self.progress(f"audit round {iteration}: {where}")
            audit = audit_release(
                output,
                self.priors,
                self.tables,
                self.policies,
                backend=backend,
                only_populations=scope,
                skip=safe,
                relations=self.relations,
                insiders=self.insiders,
                insider_safe=insider_safe,
                progress=lambda message, i=iteration: self.progress(f"audit round {i}: {message}"),
            )
            insider_safe = insider_safe | audit.insider_safe
            self.progress(f"audit round {iteration}: {len(audit.disclosed)} cell(s) disclosed")
            if result is None:
                result = audit.cells
            else:
                fresh = {target_key(r) for r in audit.cells.itertuples()}
                kept = result[result["population"].isin(scope) & ~result["disclosed"]]
                kept = kept[[target_key(r) not in fresh for r in kept.itertuples()]]
                result = pd.concat([result[~result["population"].isin(scope)], kept, audit.cells], ignore_index=True)
            audit = AuditResult(result, insider_safe)
            if self.mode != "full" or audit.passed or not self._resolve(audit.disclosed):
                return iteration, audit
        return max_iterations, AuditResult(result, insider_safe)

    def _resolve(self, disclosed: pd.DataFrame) -> bool:
        changed = False
        for row in disclosed.itertuples(index=False):
            reason = "COMPLEMENTARY_PRIOR_RELEASE" if row.release > 0 else None
            if row.quantity in ("sum_count", "sum_numerator"):
                layer = "c" if row.quantity == "sum_count" else "n"
                qs = [self._member_q(m) for m in row.members]
                changed |= self._protect(layer, [q for q in qs if q is not None], reason, row.table_id)
                continue
            layer = "n" if row.quantity in ("numerator", "recoded") else "c"
            key = (
                SEP.join([row.population, row.unit_id, row.grouping, row.category])
                if layer == "c"
                else SEP.join([row.population, row.outcome, row.unit_id, row.grouping, row.category])
            )
            q = (self.cindex if layer == "c" else self.nindex).get(key)
            if q is None:
                continue
            if row.quantity == "recoded":
                rows = np.flatnonzero(self.nq == q)
                changed |= any(self._resolve_conflict(int(i)) for i in rows)
            # a cell an outsider pins anyway can be shown; one an insider pins must stay hidden and be covered
            elif row.exact and row.release == 0 and row.attacker == "outsider" and self._republish(layer, q):
                changed = True
            elif row.attacker != "outsider":  # hide one more cell of an equation the insider shares with it
                insider = (self.cindex if layer == "c" else self.nindex).get(row.attacker.split(":", 1)[1])
                changed |= self._protect(layer, [q] if insider is None else [q, insider], reason, row.table_id)
            else:
                changed |= self._protect(layer, [q], reason, row.table_id)
        return changed

    def _republish(self, layer: str, q: int) -> bool:
        """Show a complement the reader pins exactly anyway (e.g. a zero the other tables'
        structure gives away): hiding it protects nothing, and showing it tells the reader
        nothing new, so every other interval stays as it is. Never a primary cell."""
        if (self.state[layer][q] != "suppressed" or self.primary[layer][q] or q in self.prior_suppressed[layer]
                or q in self.frozen[layer]):  # fmt: skip
            return False
        self.state[layer][q] = "published"
        self.why[layer][q] = None
        self.pinned[layer].add(q)
        key = (self.ckeys if layer == "c" else self.nkeys)[q]
        self.dirty.add(key.split(SEP, 1)[0])
        return True

    def _member_q(self, member: tuple) -> int | None:
        layer, *parts = member
        return (self.cindex if layer == "C" else self.nindex).get(SEP.join(parts))

    def _protect(self, layer: str, qs: list[int], reason: str | None, origin: str) -> bool:
        """Suppress the cheapest shown quantity linked to `qs` (then two links away, then anything linked)."""
        if not qs:
            return False
        links = self.links[layer]
        shared = set(self.where[layer][qs[0]]).intersection(*(self.where[layer][q] for q in qs[1:]))
        rings = [shared, {li for q in qs for li in self.where[layer][q]}]
        second = set()
        for li in rings[1]:
            for m in [links[li].total, *links[li].parts]:
                if not self._known(layer, m):
                    second.update(self.where[layer][m])
        rings.append(second)
        for ring in rings:
            pool = {m for li in ring for m in [links[li].total, *links[li].parts] if self._open(layer, m)}
            pick = choose(sorted(pool), self.cost[layer])
            if pick is not None:
                kinds = {links[li].kind for li in ring if pick in (links[li].total, *links[li].parts)}
                why = reason or LINK_REASON[next(k for k in ("row", "hierarchy", "relation") if k in kinds)]
                return self._suppress(layer, pick, why, "audit.lp", origin)
        return False

    # ---- output -------------------------------------------------------------------------
    def output(self) -> pd.DataFrame:
        df = self.df
        out = df[[c for c in KEY_COLUMNS]].copy()
        status, display, reason, rule = [], [], [], []
        n_pub, n_disp, n_reason = [], [], []
        for i in range(len(df)):
            tid, policy = self.table_of[i], self.pol[i]
            c_state = self.state["c"][self.cq[i]]
            c_why = self._row_why("c", i, tid)
            if not self.rate[i]:
                shown = c_state != "suppressed"
                status.append("published" if shown else "suppressed")
                display.append(str(int(self.n[i])) if shown else "*")
                reason.append("PUBLISHED" if shown else c_why[0])
                rule.append(f"{policy.name}.count" if shown else c_why[1])
                n_pub.append(shown)
                n_disp.append(display[-1])
                n_reason.append(reason[-1])
                continue
            if self.state["n"][self.nq[i]] == "suppressed":
                why = self._row_why("n", i, tid)
                status.append("suppressed")
                display.append("*")
                reason.append(why[0])
                rule.append(why[1])
            else:
                coded = self.coded[i]
                status.append(coded.status)
                display.append(coded.display)
                reason.append(self.coded_why[i][0] if self.coded_why[i] else coded.reason)
                rule.append(self.coded_why[i][1] if self.coded_why[i] else self.band[i].rule_id)
            if not policy.counts_with_rates:
                n_pub.append(False)
                n_disp.append("")
                n_reason.append("NO_COUNTS_BEHIND_PERCENTAGES")
            elif c_state == "suppressed":
                n_pub.append(False)
                n_disp.append("*")
                n_reason.append(c_why[0])
            else:
                n_pub.append(True)
                n_disp.append(str(int(self.n[i])))
                n_reason.append("PUBLISHED")
        out["status"], out["display"], out["reason"], out["rule_id"] = status, display, reason, rule
        out["n_published"], out["n_display"], out["n_reason"] = n_pub, n_disp, n_reason
        return out[OUTPUT_COLUMNS]

    def _row_why(self, layer: str, i: int, tid: str) -> tuple[str, str]:
        if self.row_primary[layer][i]:
            return self.row_primary[layer][i]
        q = self._q(layer, i)
        why = self.why[layer][q]
        if why is None:
            return ("PUBLISHED", "")
        if "@release-" in why[2]:
            return "COMPLEMENTARY_PRIOR_RELEASE", f"prior_release.{why[2]}"
        if why[2] != tid and not why[0].startswith(("COMPLEMENTARY_PRIOR", "COMPLEMENTARY_RELATED")):
            return "COMPLEMENTARY_CROSS_TABLE", f"cross_table.{why[2]}"
        return why[0], why[1]
