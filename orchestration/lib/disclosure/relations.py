"""Population relations between published tables, as data: `seeds/publish_relations.csv`.

Tables of one population share their cells by name. Tables of different populations can
still share students, and a reader who knows how (the tables' descriptions say so) uses it:
- `subset`: every cell of `table_id` is at most the matching cell of `other_table_id`
  (accountable students are enrolled students);
- `equal`: the matching cells are the same count (ETPL completers of an institution are
  its certificate awards).
Cells match on the unit (`unit_id`, at every level) and on the grouping and category given;
`*` matches every grouping (category) of `table_id` with the same one in the other table.
A relation holds within one publication; both the engine and the audit read it.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from orchestration.lib.paths import SEEDS_DIR

RELATIONS_FILE = "publish_relations.csv"
KINDS = ("subset", "equal")
COLUMNS = ["relation", "table_id", "grouping", "category", "other_table_id", "other_grouping", "other_category",
           "description"]  # fmt: skip
ANY = "*"


class RelationError(ValueError):
    """A relations seed that cannot be used; the message names the file and row."""


@dataclass(frozen=True)
class Relation:
    kind: str
    table_id: str
    grouping: str
    category: str
    other_table_id: str
    other_grouping: str
    other_category: str
    description: str = ""


def load_relations(seeds_dir=SEEDS_DIR) -> list[Relation]:
    path = seeds_dir / RELATIONS_FILE
    if not path.exists():
        raise RelationError(f"seeds/{RELATIONS_FILE} is missing: population relations are declared there")
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    if list(frame.columns) != COLUMNS:
        raise RelationError(f"seeds/{RELATIONS_FILE}: columns must be {COLUMNS}, got {list(frame.columns)}")
    out = []
    for line, row in enumerate(frame.itertuples(index=False), start=2):
        where = f"seeds/{RELATIONS_FILE} line {line}"
        if row.relation not in KINDS:
            raise RelationError(f"{where}, column 'relation': must be one of {KINDS}, got {row.relation!r}")
        if not all([row.table_id, row.grouping, row.category, row.other_table_id, row.other_grouping,
                    row.other_category]):  # fmt: skip
            raise RelationError(f"{where}: every column but description needs a value")
        if (row.grouping == ANY) != (row.other_grouping == ANY) or (row.category == ANY) != (row.other_category == ANY):
            raise RelationError(f"{where}: '*' must stand on both sides")
        out.append(Relation(*row))
    return out


def related_pairs(cells: pd.DataFrame, relations: list[Relation], qcol: str, scope: str) -> pd.DataFrame:
    """(left, right, kind) quantity pairs the relations tie: left <= right ('subset') or left == right.

    `cells` has table_id, unit_id, grouping, category, `qcol` (the quantity id) and `scope`
    (the publication a row belongs to: relations hold within one)."""
    cols = [scope, "table_id", "unit_id", "grouping", "category", qcol]
    frames = []
    for rel in relations:
        left = cells.loc[cells["table_id"] == rel.table_id, cols]
        right = cells.loc[cells["table_id"] == rel.other_table_id, cols]
        on = [scope, "unit_id"]
        for col, mine, theirs in (("grouping", rel.grouping, rel.other_grouping),
                                  ("category", rel.category, rel.other_category)):  # fmt: skip
            if mine == ANY:
                on.append(col)
            else:
                left, right = left[left[col] == mine], right[right[col] == theirs]
        pairs = left.merge(right, on=on, suffixes=("", "_other"))
        frames.append(pd.DataFrame({"left": pairs[qcol].to_numpy(), "right": pairs[f"{qcol}_other"].to_numpy(),
                                    "kind": rel.kind}))  # fmt: skip
    if not frames:
        return pd.DataFrame({"left": [], "right": [], "kind": []})
    out = pd.concat(frames, ignore_index=True)
    out = out[out["left"] != out["right"]]
    return out.drop_duplicates().reset_index(drop=True)
