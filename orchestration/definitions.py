"""The SLEDS code location: loads each stage's definitions and nothing else."""

import dagster as dg

from orchestration.defs import (
    automation,
    derived,
    governance,
    identity,
    ingest,
    marts,
    publish,
    quality,
    reference_checks,
    releases,
)

defs = dg.Definitions.merge(
    ingest.defs,
    quality.defs,
    reference_checks.defs,
    identity.defs,
    derived.defs,
    governance.defs,
    marts.defs,
    releases.defs,
    publish.defs,
    automation.defs,
)
