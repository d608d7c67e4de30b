"""Publishing: summary tables built from the marts, suppressed by policy
(orchestration/lib/disclosure), audited independently, written as the public release."""
