"""Render the dbt staging layer from the feed layouts (seeds/feed_layouts.csv): one
typed view per feed (models/staging/stg_*.sql), their contracts (_staging.yml) and the
raw sources (_sources.yml).

    python -m tools.dbt_codegen        (or: make codegen)

rewrites the files that differ; tests/test_dbt_codegen.py fails while a committed file
and the layout disagree. Edit the seed (or the templates in tools/templates/dbt/), never
the generated files.

What the layout does not say is written here once: which logical types become which
SQL types, the description phrases and the per-feed model names and table
descriptions. The YAML is serialised by PyYAML (block style, width 110), not pasted
together, so quoting and folding are always valid YAML."""

from __future__ import annotations

import sys
from functools import cache
from pathlib import Path

import yaml

from orchestration.lib import paths
from orchestration.lib.reference import FEEDS, FeedColumn, feed_layout
from orchestration.lib.templating import text_environment

STAGING_DIR = paths.DBT_PROJECT_DIR / "models" / "staging"

# model name and what one row is, per feed (not in the layout: it describes columns)
FEED_MODELS = {
    "msds": (
        "stg_msds__records",
        "MSDS-style K-12 collection records (Fall, Spring, End of Year, SRM), one row per record received.",
    ),
    "assessment": (
        "stg_assessment__results",
        "State assessment results, one row per student per test event (DOMAIN.md §1a').",
    ),
    "ps_enrollment": (
        "stg_ps__enrollment",
        "Postsecondary enrollment, one row per student per institution per term (Attachment C).",
    ),
    "ps_awards": ("stg_ps__awards", "Postsecondary awards conferred, one row per award (Attachment D)."),
}

# logical type (feed_layouts.logical_type) -> the SQL type of the staging column. Every
# other logical type stays text (codes and IDs keep their leading zeros); `flag` (Y/N)
# becomes boolean through a case expression, the others through try_cast
# (macros/feed_values.sql), so a malformed value is null, not an error (ingest has
# already quarantined it).
SQL_TYPES = {"integer": "integer", "decimal": "decimal(9,2)", "date": "date", "flag": "boolean"}
TEXT_TYPE = "varchar"

# columns ingest adds to every raw feed table, before the layout's own
INGEST_COLUMNS = [
    {
        "name": "record_token",
        "description": "Random token for this received record; joins to the vault's identity half. Not derived "
        "from any identifier.",
    },
    {"name": "source_file", "description": "Landing-folder path of the file the record came from."},
    {"name": "source_row", "description": "1-based data row number of the record in its source file."},
]


def _staged(feed: str) -> list[FeedColumn]:
    """The layout's columns that reach the warehouse: PII goes to the vault at ingest."""
    return [c for c in feed_layout(feed) if not c.pii]


def sql_type(column: FeedColumn) -> str:
    return SQL_TYPES.get(column.logical_type, TEXT_TYPE)


def staging_columns(feed: str) -> list[dict]:
    """What the SQL template needs per column, in layout order."""
    return [
        {"name": c.name, "sql_type": sql_type(c), "not_applicable": c.not_applicable_allowed} for c in _staged(feed)
    ]


def _codes(column: FeedColumn) -> str:
    return f" Codes: seeds/code_sets.csv, code set {column.code_set}." if column.code_set else ""


def staging_yml() -> dict:
    columns_meta = [dict(c) for c in INGEST_COLUMNS]  # shared: serialised once, then as YAML aliases
    models = []
    for feed in FEEDS:
        name, rows = FEED_MODELS[feed]
        columns = list(columns_meta)
        for c in _staged(feed):
            columns.append({"name": c.name, "description": c.description + _codes(c), "data_type": sql_type(c)})
            if c.not_applicable_allowed:
                columns.append(
                    {
                        "name": f"{c.name}_not_applicable",
                        "description": f'True when the institution sent "Not Applicable" for {c.name} (does not '
                        f"collect or disclose it); {c.name} is then null.",
                        "data_type": "boolean",
                    }
                )
        models.append({"name": name, "description": f"{rows} Typed; PII stays in the vault.", "columns": columns})
    return {"version": 2, "models": models}


def raw_source() -> dict:
    """The `raw` source: the feed tables ingest writes, every column text as received."""
    columns_meta = [dict(c) for c in INGEST_COLUMNS]
    tables = []
    for feed in FEEDS:
        _, rows = FEED_MODELS[feed]
        columns = list(columns_meta)
        columns += [{"name": c.name, "description": f"{c.description} Text as received."} for c in _staged(feed)]
        tables.append({"name": feed, "description": f"{rows} Non-PII columns only.", "columns": columns})
    return {
        "name": "raw",
        "schema": "raw",
        "description": "Feeds as received (text), written by the ingest assets. PII columns are not here: they are "
        "in the vault.",
        "tables": tables,
    }


def to_yaml(value) -> str:
    """Block-style YAML as the files have always been written (PyYAML, width 110)."""
    return yaml.safe_dump(value, sort_keys=False, width=110, allow_unicode=True)


@cache
def _environment():
    # dbt's own Jinja ({{ text_value(...) }}) is the output here, so these templates use
    # [[ ]] and [% %] for their own expressions and statements
    env = text_environment(
        "tools",
        "templates/dbt",
        block_start_string="[%",
        block_end_string="%]",
        variable_start_string="[[",
        variable_end_string="]]",
        comment_start_string="[#",
        comment_end_string="#]",
    )
    env.filters["to_yaml"] = to_yaml
    return env


def render() -> dict[str, str]:
    """File name (under models/staging) -> its content, rendered from the layouts."""
    env = _environment()
    out = {}
    for feed in FEEDS:
        name, _ = FEED_MODELS[feed]
        out[f"{name}.sql"] = env.get_template("stg_feed.sql.j2").render(feed=feed, columns=staging_columns(feed))
    out["_staging.yml"] = env.get_template("_staging.yml.j2").render(document=staging_yml())
    out["_sources.yml"] = env.get_template("_sources.yml.j2").render(raw=raw_source())
    return out


def stale(folder: Path = STAGING_DIR) -> list[str]:
    """Generated files whose committed content differs from a fresh rendering."""
    return [
        name
        for name, text in render().items()
        if not (folder / name).exists() or (folder / name).read_text(encoding="utf-8") != text
    ]


def write(folder: Path = STAGING_DIR) -> list[str]:
    """Rewrite the files that differ (others keep their modification time, so the dbt
    manifest is not re-parsed for nothing); returns their names."""
    changed = stale(folder)
    rendered = render()
    for name in changed:
        (folder / name).write_text(rendered[name], encoding="utf-8")
    return changed


if __name__ == "__main__":
    written = write()
    print(f"rewrote {', '.join(written)}" if written else "staging models and sources are current", file=sys.stderr)
