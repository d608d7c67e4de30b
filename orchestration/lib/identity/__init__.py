"""Identity resolution: standardise the vault's identities, link them into persons,
give each person a random research ID that survives reloads, and derive
project-scoped IDs for data requests. Pure Python and SQL (DuckDB, splink);
no Dagster imports. See docs/identity.md."""
