"""`sleds generate`: write a full synthetic feed set for a scale and seed."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from orchestration.lib.generate import assessment, defects, msds, postsecondary
from orchestration.lib.generate.directory import Institutions, K12Directory
from orchestration.lib.generate.k12 import K12Model
from orchestration.lib.generate.names import NamePool
from orchestration.lib.generate.people import People
from orchestration.lib.generate.scales import K12_FIRST_YEAR, K12_YEARS, SCALES, school_year_label
from orchestration.lib.generate.writer import FeedWriter

GENERATOR_VERSION = "1"


def generate(
    scale_name: str,
    seed: int,
    out: Path,
    fmt: str = "csv",
    progress: Callable[[str], None] = lambda msg: None,
) -> dict:
    """Generate every feed into out/landing and the ground truth into out/ground_truth."""
    if scale_name not in SCALES:
        raise ValueError(f"unknown scale {scale_name!r}: choose one of {', '.join(SCALES)}")
    scale = SCALES[scale_name]
    began = time.monotonic()
    out.mkdir(parents=True, exist_ok=True)
    pool = NamePool.from_seeds()
    people = People()
    model = K12Model(scale, seed, people, pool, K12Directory.from_seeds(scale.districts))
    writer = FeedWriter(out, fmt, inject_bad_records=scale.inject_bad_records)
    ps_inputs = postsecondary.K12Outcomes()
    try:
        for t in range(K12_YEARS):
            sy = school_year_label(K12_FIRST_YEAR + t)
            spells = model.year(t)
            ps_inputs.record_year(model, t, spells)
            for name in ("FALL", "SPRING", "EOY"):
                cols, pid = msds.collection(model, t, spells, name)
                if name in ("FALL", "SPRING"):  # the window's test results, from its clean collection
                    tests, tested = assessment.results(model, t, name, K12_FIRST_YEAR + t, cols, pid)
                    test_defect = None
                    if scale.inject_bad_records and name == "FALL":
                        tests, tested, test_defect = defects.inject("assessment", tests, tested, seed + t)
                    relpath = f"assessment/{sy}/assessment_{name.lower()}_{sy}"
                    writer.write("assessment", relpath, tests, tested, test_defect)
                defect = None
                if scale.inject_bad_records and name == "FALL":
                    cols, pid, defect = defects.inject("msds", cols, pid, seed + t)
                writer.write("msds", f"msds/{sy}/msds_{name.lower()}_{sy}", cols, pid, defect)
            for part in (1, 2):
                cols, pid = msds.srm(model, t, spells, part)
                writer.write("msds", f"msds/{sy}/msds_srm_{sy}_{part:02d}", cols, pid)
            progress(f"MSDS {sy}: {len(np.unique(spells['j']))} students")
        postsecondary.generate(
            scale,
            seed,
            people,
            pool,
            Institutions.from_seeds(scale.institutions),
            ps_inputs,
            writer,
            progress,
        )
    finally:
        writer.close()
    summary = {
        "scale": scale_name,
        "seed": seed,
        "format": fmt,
        "generator_version": GENERATOR_VERSION,
        "persons": len(people),
        "files": writer.files_written,
        "rows": writer.rows_written,
        "seconds": round(time.monotonic() - began, 1),
    }
    (out / "generation.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary
