"""The part of the seeded K-12 and institution directories a scale uses."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from orchestration.lib.reference import read_seed

LEVELS = {"elementary": 0, "middle": 1, "high": 2}


def grade_level(grade: np.ndarray) -> np.ndarray:
    """Building level serving a (numeric) grade: 0 elementary, 1 middle, 2 high."""
    return np.where(grade <= 5, 0, np.where(grade <= 8, 1, 2))


@dataclass
class K12Directory:
    district_code: pa.Array
    district_p: np.ndarray
    district_city: list[str]
    building_code: pa.Array
    building_district: np.ndarray
    cand_offset: np.ndarray  # [district, level] -> start in cand_list
    cand_count: np.ndarray
    cand_list: np.ndarray
    career_centers: np.ndarray  # building indices that take shared-time (SEE) students

    @classmethod
    def from_seeds(cls, n_districts: int) -> K12Directory:
        districts = read_seed("k12_districts")[:n_districts]
        index = {d["district_code"]: i for i, d in enumerate(districts)}
        buildings = [b for b in read_seed("k12_buildings") if b["district_code"] in index]
        weights = np.array([float(d["size_weight"]) for d in districts])
        cands: list[list[list[int]]] = [[[], [], []] for _ in districts]
        centers = []
        for bi, b in enumerate(buildings):
            d = index[b["district_code"]]
            if b["school_level"] == "k12":
                for level in range(3):
                    cands[d][level].append(bi)
            elif b["school_level"] == "career_tech":
                centers.append(bi)
            else:
                cands[d][LEVELS[b["school_level"]]].append(bi)
        offset = np.zeros((len(districts), 3), np.int64)
        count = np.zeros((len(districts), 3), np.int64)
        flat: list[int] = []
        for d in range(len(districts)):
            for level in range(3):
                offset[d, level] = len(flat)
                count[d, level] = len(cands[d][level])
                flat.extend(cands[d][level])
        if not centers:
            # small scales have no career-tech centre: the largest district's high
            # school takes the shared-time students instead
            centers = cands[0][2][:1]
        cities = [d["district_name"].rsplit(" ", 2)[0] for d in districts]
        return cls(
            district_code=pa.array([d["district_code"] for d in districts]),
            district_p=weights / weights.sum(),
            district_city=cities,
            building_code=pa.array([b["building_code"] for b in buildings]),
            building_district=np.array([index[b["district_code"]] for b in buildings]),
            cand_offset=offset,
            cand_count=count,
            cand_list=np.array(flat, np.int64),
            career_centers=np.array(centers, np.int64),
        )

    def building_for(self, district: np.ndarray, grade: np.ndarray, slot: np.ndarray) -> np.ndarray:
        level = grade_level(grade)
        count = self.cand_count[district, level]
        # a district without a building at this level (rare) falls back to its elementary
        level = np.where(count == 0, 0, level)
        count = self.cand_count[district, level]
        return self.cand_list[self.cand_offset[district, level] + slot % np.maximum(count, 1)]


@dataclass
class Institutions:
    code: pa.Array
    codes: list[str]
    sector: np.ndarray
    quarter: np.ndarray  # term type Q
    state_aid: np.ndarray
    undisclosed: list[set[str]]
    p: np.ndarray

    @classmethod
    def from_seeds(cls, n: int) -> Institutions:
        rows = read_seed("institutions")
        # keep every sector represented at small scales: round-robin over sectors
        by_sector: dict[str, list[dict]] = {}
        for r in rows:
            by_sector.setdefault(r["sector"], []).append(r)
        picked: list[dict] = []
        while len(picked) < min(n, len(rows)):
            for group in by_sector.values():
                if group and len(picked) < n:
                    picked.append(group.pop(0))
        w = np.array([float(r["size_weight"]) for r in picked])
        return cls(
            code=pa.array([r["institution_code"] for r in picked]),
            codes=[r["institution_code"] for r in picked],
            sector=np.array([r["sector"] for r in picked]),
            quarter=np.array([r["term_type"] == "Q" for r in picked]),
            state_aid=np.array([r["state_aid_participant"] == "Y" for r in picked]),
            undisclosed=[set(filter(None, r["undisclosed_elements"].split(";"))) for r in picked],
            p=w / w.sum(),
        )
