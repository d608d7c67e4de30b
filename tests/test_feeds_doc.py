"""docs/feeds.md is the landing-folder contract: it must match what the generator
writes, column for column, and the layouts in seeds/."""

import csv
import re

from orchestration.lib.paths import REPO_ROOT
from orchestration.lib.reference import FEEDS, feed_layout
from tools.feeds_doc import render

DOC = REPO_ROOT / "docs" / "feeds.md"


def documented_columns() -> dict[str, list[tuple[str, str, bool, bool, bool]]]:
    """(column, type, required, NA allowed, PII) per feed, parsed from the markdown."""
    out: dict[str, list] = {}
    feed = None
    for line in DOC.read_text().splitlines():
        heading = re.match(r"^## `(\w+)`:", line)
        if heading:
            feed = heading.group(1)
            out[feed] = []
            continue
        row = re.match(r"^\| (\d+) \| `(\w+)` \|[^|]*\| ([^|]+) \| (yes)? ?\| (yes)? ?\| (yes)? ?\|", line)
        if feed and row:
            out[feed].append(
                (
                    row.group(2),
                    row.group(3).split()[0],
                    bool(row.group(4)),
                    bool(row.group(5)),
                    bool(row.group(6)),
                )
            )
    return out


def test_document_is_rendered_from_the_current_seeds():
    assert DOC.read_text() == render(), "run: python -m tools.feeds_doc > docs/feeds.md"


def test_documented_columns_match_the_layout_seed():
    doc = documented_columns()
    assert set(doc) == set(FEEDS)
    for feed in FEEDS:
        expected = [(c.name, c.logical_type, c.required, c.not_applicable_allowed, c.pii) for c in feed_layout(feed)]
        assert doc[feed] == expected


def test_generated_files_have_exactly_the_documented_columns(tiny_feeds):
    doc = documented_columns()
    landing = tiny_feeds / "landing"
    for feed in FEEDS:
        files = sorted((landing / feed).rglob("*.csv"))
        assert files, f"generator wrote no {feed} files"
        for path in files:
            with path.open(encoding="utf-8") as handle:
                header = next(csv.reader(handle))
            assert header == [c[0] for c in doc[feed]], path
