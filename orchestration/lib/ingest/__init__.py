"""Ingest: landing-folder files into the warehouse (non-PII) and the vault (PII)."""
