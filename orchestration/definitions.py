"""The SLEDS code location: loads each stage's definitions and nothing else."""

import dagster as dg

from orchestration.defs import ingest, marts

defs = dg.Definitions.merge(ingest.defs, marts.defs)
