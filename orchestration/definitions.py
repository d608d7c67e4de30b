"""The SLEDS code location: loads each stage's definitions and nothing else."""

import dagster as dg

from orchestration.defs import identity, ingest, marts, quality

defs = dg.Definitions.merge(ingest.defs, quality.defs, marts.defs, identity.defs)
