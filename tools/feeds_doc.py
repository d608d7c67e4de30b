"""Render docs/feeds.md from the feed layouts and code sets in seeds/ (the page
itself is the template tools/templates/feeds.md.j2).

Run `python -m tools.feeds_doc > docs/feeds.md` after changing a
layout; tests/test_feeds_doc.py fails while the document and the generator's
files disagree.
"""

from __future__ import annotations

from functools import cache

from orchestration.lib.reference import FEEDS, NOT_APPLICABLE, code_sets, feed_layout
from orchestration.lib.templating import text_environment

TYPE_HELP = {
    "school_year": "YYYY-YY, e.g. 2021-22",
    "code": "a code from the named code set",
    "id5": "5 digits",
    "id7": "7 digits",
    "id9": "9 digits",
    "id10": "10 digits",
    "id3": "3 digits",
    "text": "free text, UTF-8",
    "date": "YYYY-MM-DD",
    "integer": "whole number",
    "decimal": "decimal number, point separator",
    "flag": "Y or N",
    "race6": "6 characters of 0/1 (AIAN, Asian, Black, NHPI, White, Hispanic or Latino)",
    "cip": "CIP code NN.NNNN",
}

TITLES = {
    "msds": "## `msds`: K-12 collections (MSDS style, DOMAIN.md §1a)",
    "assessment": "## `assessment`: state assessment results (one record per student per test event, DOMAIN.md §1a')",
    "ps_enrollment": "## `ps_enrollment`: postsecondary enrollment (70 elements of Attachment C)",
    "ps_awards": "## `ps_awards`: awards conferred (33 elements of Attachment D)",
}


def render() -> str:
    feeds = [{"title": TITLES[feed], "columns": feed_layout(feed)} for feed in FEEDS]
    return _template().render(feeds=feeds, types=TYPE_HELP, not_applicable=NOT_APPLICABLE, code_sets=code_sets())


@cache
def _template():
    return text_environment("tools", "templates").get_template("feeds.md.j2")


if __name__ == "__main__":
    print(render(), end="")
