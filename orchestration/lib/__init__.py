"""Pure domain code: no Dagster imports here, so every rule is testable directly."""
