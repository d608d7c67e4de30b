"""Linkage configuration: thresholds are data (seeds/identity_thresholds.csv), not code."""

from __future__ import annotations

from dataclasses import dataclass, fields

from orchestration.lib.reference import read_seed


@dataclass(frozen=True)
class Thresholds:
    accept_match_weight: float = 9.0
    review_match_weight: float = 4.0
    name_similarity_min: float = 0.9
    shared_ssn_max_holders: int = 3
    u_max_pairs: int = 5_000_000
    random_seed: int = 42
    retrain_growth: float = 0.5

    def __post_init__(self) -> None:
        if self.review_match_weight > self.accept_match_weight:
            raise ValueError(
                f"review_match_weight ({self.review_match_weight}) must not exceed "
                f"accept_match_weight ({self.accept_match_weight})"
            )

    @classmethod
    def from_seed(cls, **overrides) -> Thresholds:
        values = {}
        types = {f.name: f.type for f in fields(cls)}
        for row in read_seed("identity_thresholds"):
            name = row["parameter"]
            if name not in types:
                raise KeyError(f"seeds/identity_thresholds.csv: unknown parameter {name!r} (known: {sorted(types)})")
            cast = int if types[name] in (int, "int") else float
            values[name] = cast(float(row["value"])) if cast is int else cast(row["value"])
        values.update(overrides)
        return cls(**values)
