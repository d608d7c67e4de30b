"""SLEDS warehouse: the Dagster code location and the product's pure domain code.

`definitions.py` only loads; `defs/` holds thin Dagster definitions per stage;
`lib/` holds plain Python (no Dagster imports) that is tested directly.
"""
