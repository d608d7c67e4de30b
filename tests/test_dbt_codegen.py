"""The staging models and raw sources are rendered from seeds/feed_layouts.csv: the
committed files must be exactly what the generator writes now."""

import yaml

from orchestration.lib import reference
from orchestration.lib.reference import FEEDS, feed_layout
from tools import dbt_codegen

COMMAND = "python -m tools.dbt_codegen (or: make codegen)"


def test_committed_staging_files_are_rendered_from_the_current_layouts():
    rendered = dbt_codegen.render()
    for name, text in rendered.items():
        committed = (dbt_codegen.STAGING_DIR / name).read_text(encoding="utf-8")
        assert committed == text, f"models/staging/{name} is stale or edited by hand: run {COMMAND}"


def test_every_staging_file_is_generated():
    on_disk = {p.name for p in dbt_codegen.STAGING_DIR.iterdir() if p.is_file()}
    assert on_disk == set(dbt_codegen.render()), f"hand-written or leftover files in models/staging: run {COMMAND}"


def test_each_model_has_every_non_pii_layout_column_typed_and_its_na_flag():
    staging = yaml.safe_load(dbt_codegen.render()["_staging.yml"])
    models = {m["name"]: m for m in staging["models"]}
    for feed in FEEDS:
        name, _ = dbt_codegen.FEED_MODELS[feed]
        sql = dbt_codegen.render()[f"{name}.sql"]
        columns = {c["name"]: c for c in models[name]["columns"]}
        for c in feed_layout(feed):
            if c.pii:
                assert c.name not in columns and f"'{c.name}'" not in sql, f"PII column {c.name} in {name}"
                continue
            assert f" as {c.name}" in sql
            assert columns[c.name]["data_type"] == dbt_codegen.SQL_TYPES.get(c.logical_type, "varchar")
            assert (f"{c.name}_not_applicable" in columns) == c.not_applicable_allowed
        sources = yaml.safe_load(dbt_codegen.render()["_sources.yml"])
        raw = next(s for s in sources["sources"] if s["name"] == "raw")
        table = next(t for t in raw["tables"] if t["name"] == feed)
        assert [c["name"] for c in table["columns"]][3:] == [c.name for c in feed_layout(feed) if not c.pii]


def test_layout_columns_the_generator_does_not_use_change_nothing(monkeypatch):
    """The layout seed may grow columns for other readers (as restricted_element did)."""
    before = dbt_codegen.render()
    read_seed = reference.read_seed

    def with_extra_column(name, *args, **kwargs):
        rows = read_seed(name, *args, **kwargs)
        return [{**r, "steward_note": "x"} for r in rows] if name == "feed_layouts" else rows

    monkeypatch.setattr(reference, "read_seed", with_extra_column)
    reference._feed_layout.cache_clear()
    try:
        assert reference.feed_layout("msds") and dbt_codegen.render() == before
    finally:
        monkeypatch.undo()
        reference._feed_layout.cache_clear()


def test_write_rewrites_only_what_differs(tmp_path):
    for name, text in dbt_codegen.render().items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    (tmp_path / "stg_ps__awards.sql").write_text("select 1\n", encoding="utf-8")
    assert dbt_codegen.stale(tmp_path) == ["stg_ps__awards.sql"]
    assert dbt_codegen.write(tmp_path) == ["stg_ps__awards.sql"]
    assert dbt_codegen.stale(tmp_path) == []
