"""Governance for the committee and researchers (pure Python, no Dagster imports):
the append-only disclosure log, the activity log, the governance report (`sleds audit`),
restricted-element lineage, data dictionaries, researcher query access and project
extracts."""
