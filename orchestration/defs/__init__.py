"""Thin Dagster definitions, one module per stage; the logic lives in orchestration.lib."""
