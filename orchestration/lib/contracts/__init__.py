"""Ingest contracts: the Great Expectations suites in expectations/, applied to feeds."""
