"""The SLEDS code location: loads each stage's definitions and nothing else."""

import dagster as dg

from orchestration.defs import derived, identity, ingest, marts, quality

defs = dg.Definitions.merge(ingest.defs, quality.defs, identity.defs, derived.defs, marts.defs)
