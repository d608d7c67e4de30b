"""Statistical disclosure control for published summary tables.

Pure Python (pandas, numpy, scipy): no Dagster, no dbt. Policies are data in
`seeds/suppression_policies.csv` and `seeds/suppression_rate_bands.csv`.

- `SummaryTable`: the input (tables.py);
- `run_suppression` / `suppress_tables`: the engine (engine.py);
- `audit_release`: the independent LP audit (audit/), which never imports the engine;
- `load_policies`: the policy seeds (policy.py);
- the synthetic state-sized release that times the engine and audit is a dev tool:
  `tools/bench_disclosure.py`; the hand-built failure cases are test fixtures:
  `tests/disclosure_cases.py`.
"""

from orchestration.lib.disclosure.audit import AuditError, AuditResult, audit_release
from orchestration.lib.disclosure.engine import DisclosureError, SuppressionRun, run_suppression, suppress_tables
from orchestration.lib.disclosure.policy import Policy, PolicyError, RateBand, load_policies
from orchestration.lib.disclosure.tables import OUTPUT_COLUMNS, SummaryTable, TableError

__all__ = [
    "OUTPUT_COLUMNS",
    "AuditError",
    "AuditResult",
    "DisclosureError",
    "Policy",
    "PolicyError",
    "RateBand",
    "SummaryTable",
    "SuppressionRun",
    "TableError",
    "audit_release",
    "load_policies",
    "run_suppression",
    "suppress_tables",
]
