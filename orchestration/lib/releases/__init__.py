"""Releases: each audience's data written to its own files, physically separate from
the warehouse (a DuckDB file and Parquet per table, with a manifest)."""
