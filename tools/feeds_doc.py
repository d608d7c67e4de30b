"""Render docs/feeds.md from the feed layouts and code sets in seeds/.

Run `python -m tools.feeds_doc > docs/feeds.md` after changing a
layout; tests/test_feeds_doc.py fails while the document and the generator's
files disagree.
"""

from __future__ import annotations

from orchestration.lib.reference import FEEDS, NOT_APPLICABLE, code_sets, feed_layout

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

HEADER = """# Feed layouts

This is the contract for the landing folder: the pipeline accepts any folder
that follows it, and `sleds generate` writes exactly this (a test compares the
two). Rendered from `seeds/feed_layouts.csv` and `seeds/code_sets.csv` by
`python -m tools.feeds_doc`; edit the seeds, not this page.

## Files

| feed | path under the landing folder | one file per |
|---|---|---|
| `msds` | `msds/<school year>/msds_<fall\\|spring\\|eoy>_<school year>.csv` and `msds/<school year>/msds_srm_<school year>_<NN>.csv` | collection (SRM: submission) |
| `ps_enrollment` | `ps_enrollment/FY<yyyy>/enrollment_<institution code>_FY<yyyy>_<SU\\|FA\\|WI\\|SP>.csv` | institution x term |
| `ps_awards` | `ps_awards/FY<yyyy>/awards_<institution code>_FY<yyyy>.csv` | institution x fiscal year |

- Every file may instead be Parquet (`.parquet`, every column a UTF-8 string).
- CSV: UTF-8, comma-separated, a header row with exactly the columns below in
  this order, `"` as the quote character, LF or CRLF line ends.
- Every value is text on the wire; the *type* column says what it must parse as.
  A blank value means unknown / not reported.
- `NA` means **Not Applicable** (agreement clause 10(a)(i)): the institution does
  not collect the element or does not disclose it. It is allowed only where the
  *NA* column says yes (the starred elements of Attachment A), and it is kept
  distinct from blank all the way into the marts.
- *required*: the value may not be blank (it may be `NA` where NA is allowed).
- *PII* columns go only to the vault at ingest; the warehouse sees a random
  record token instead.
- A fiscal year runs July 1 to June 30 and is named by the calendar year it ends in
  (FY2022 = 2021-07-01 .. 2022-06-30). School years run from late August.
- The K-12 state student ID is the UIC; the postsecondary `marss_number` element
  carries it where the institution knows it.

"""

TITLES = {
    "msds": "## `msds`: K-12 collections (MSDS style, DOMAIN.md §1a)",
    "ps_enrollment": "## `ps_enrollment`: postsecondary enrollment (70 elements of Attachment C)",
    "ps_awards": "## `ps_awards`: awards conferred (33 elements of Attachment D)",
}


def _row(c) -> str:
    t = c.logical_type + (f" `{c.code_set}`" if c.code_set else "")
    yes = lambda b: "yes" if b else ""  # noqa: E731
    element = c.element_name or ""
    return f"| {c.position} | `{c.name}` | {element} | {t} | {yes(c.required)} | {yes(c.not_applicable_allowed)} | {yes(c.pii)} | {c.description} |"


def render() -> str:
    parts = [HEADER]
    for feed in FEEDS:
        parts.append(TITLES[feed] + "\n")
        parts.append("| # | column | element | type | required | NA | PII | description |")
        parts.append("|---|---|---|---|---|---|---|---|")
        parts.extend(_row(c) for c in feed_layout(feed))
        parts.append("")
    parts.append("## Types\n")
    parts.append("| type | format |\n|---|---|")
    parts.extend(f"| {k} | {v} |" for k, v in TYPE_HELP.items())
    parts.append("")
    parts.append("## Code sets\n")
    parts.append(f"`{NOT_APPLICABLE}` is never a member of a code set; it is the Not Applicable marker.\n")
    for name, members in code_sets().items():
        parts.append(f"### `{name}`\n")
        parts.append("| code | meaning |\n|---|---|")
        parts.extend(f"| `{code}` | {desc} |" for code, desc in members.items())
        parts.append("")
    return "\n".join(parts)


if __name__ == "__main__":
    print(render(), end="")
