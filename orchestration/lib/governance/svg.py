"""Small inline-SVG pictures for the governance report (no JavaScript, no network).

Every text or attribute value put into a picture is escaped here (html.escape, quotes
included); numbers and the palette are the only other things interpolated. So each
picture is returned as markupsafe.Markup, which the report's autoescaping template
inserts as it is.

Every picture has a viewBox and width 100% (capped at its drawn width, so a chart is never
blown up past its design size): it shrinks with the page, on a narrow screen and on paper,
instead of being cut off or needing a sideways scroll."""

import datetime as dt
from html import escape

from markupsafe import Markup

PALETTE = {
    "published": "#4c9a6a",
    "recoded": "#e0a84f",
    "suppressed": "#c4473a",
    "other": "#9aa5b1",
    "soon": "#c4473a",
    "later": "#3f6f9f",
    "past": "#9aa5b1",
    "destruction": "#7b4fa0",
    "release": "#3f6f9f",
    "publication": "#4c9a6a",
    "extract": "#e0a84f",
    "precision": "#3f6f9f",
    "recall": "#e0a84f",
    "count": "#3f6f9f",
}


def _colour(name: str) -> str:
    return PALETTE.get(name, PALETTE["other"])


def _open(width: float, height: float, title: str, cls: str, *, cap: bool = True) -> list[str]:
    """The opening tag and title of a picture that scales with the page (see the module note)."""
    style = f' style="max-width:{width:.0f}px"' if cap else ""
    return [f'<svg xmlns="http://www.w3.org/2000/svg" class="{cls}" width="100%" viewBox="0 0 {width:.0f} '
            f'{height:.0f}" preserveAspectRatio="xMinYMin meet"{style} role="img" aria-label="{escape(title)}">',
            f'<text x="0" y="16" class="svg-title">{escape(title)}</text>']  # fmt: skip


def _legend(x: float, y: float, items: list[tuple[str, str]], step: float = 150) -> list[str]:
    """Colour swatches with their names in one row from (x, y); items: (colour, text)."""
    out = []
    for j, (colour, text) in enumerate(items):
        left = x + j * step
        out.append(f'<rect x="{left:.0f}" y="{y - 10:.0f}" width="12" height="12" fill="{colour}"/>'
                   f'<text x="{left + 16:.0f}" y="{y:.0f}" class="svg-label">{escape(text)}</text>')  # fmt: skip
    return out


def stacked_bars(
    rows: list[tuple[str, dict[str, int]]],
    order: list[str],
    title: str,
    width: int = 760,
    legend: dict[str, str] | None = None,
) -> Markup:
    """One horizontal bar per row, split into the shares of `order`'s categories (each
    coloured as PALETTE says); `legend` renames categories in the legend only."""
    legend = legend or {}
    label_w, bar_w, row_h = 300, width - 300 - 70, 22
    height = 40 + row_h * len(rows) + 30
    parts = _open(width, height, title, "chart")
    for i, (label, counts) in enumerate(rows):
        y = 30 + i * row_h
        total = sum(counts.values()) or 1
        parts.append(f'<text x="{label_w - 8}" y="{y + 14}" text-anchor="end" class="svg-label">{escape(label)}</text>')
        x = float(label_w)
        for cat in order:
            n = counts.get(cat, 0)
            if not n:
                continue
            w = bar_w * n / total
            parts.append(f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{row_h - 6}" '
                         f'fill="{_colour(cat)}"><title>{escape(label)}: {n:,} {escape(cat)} '
                         f'({100 * n / total:.1f}%)</title></rect>')  # fmt: skip
            x += w
        share = 100 * counts.get(order[-1], 0) / total
        parts.append(f'<text x="{label_w + bar_w + 6}" y="{y + 14}" class="svg-label">{share:.0f}%</text>')
    ly = 30 + row_h * len(rows) + 14
    parts += _legend(label_w, ly, [(_colour(cat), legend.get(cat, cat)) for cat in order], step=120)
    parts.append("</svg>")
    return Markup("".join(parts))


def hbars(
    groups: list[tuple[str, list[tuple[str, float | None]]]],
    title: str,
    *,
    domain_max: float | None = None,
    fmt: str = "{:,.0f}",
    legend: dict[str, str] | None = None,
    width: int = 760,
) -> Markup:
    """Horizontal bars: per group (a label) one bar per series (series name, value), all on
    one scale from 0 to `domain_max` (default: the largest value). A value of None is drawn
    as "n/a" with no bar: a measure that could not be computed is not a zero."""
    label_w, value_w, bar_h = 260, 70, 14
    bar_w = width - label_w - value_w
    rows = sum(len(series) for _, series in groups)
    height = 34 + rows * (bar_h + 3) + len(groups) * 8 + (30 if legend else 8)
    values = [v for _, series in groups for _, v in series if v is not None]
    top = domain_max if domain_max is not None else max(values, default=0) or 1
    parts = _open(width, height, title, "chart")
    y = 30.0
    for label, series in groups:
        parts.append(f'<text x="{label_w - 8}" y="{y + 11:.0f}" text-anchor="end" class="svg-label">'
                     f"{escape(label)}</text>")  # fmt: skip
        for name, value in series:
            shown = "n/a" if value is None else fmt.format(value)
            if value is not None and value > 0:
                w = bar_w * min(value, top) / top
                parts.append(f'<rect x="{label_w}" y="{y:.0f}" width="{w:.1f}" height="{bar_h}" fill="{_colour(name)}">'
                             f"<title>{escape(label)}, {escape(name)}: {escape(shown)}</title></rect>")  # fmt: skip
            else:
                w = 0
            parts.append(f'<text x="{label_w + w + 4:.1f}" y="{y + 11:.0f}" class="svg-label">{escape(shown)}</text>')
            y += bar_h + 3
        y += 8
    if legend:
        parts += _legend(label_w, y + 14, [(_colour(k), v) for k, v in legend.items()], step=110)
    parts.append("</svg>")
    return Markup("".join(parts))


def time_bars(
    bins: list[tuple[str, dict[str, int]]],
    order: list[str],
    title: str,
    *,
    width: int = 760,
) -> Markup:
    """Vertical bars in time order (one per bin: a day or a month, label as given), each
    stacked by the categories of `order`, with its total above it. Empty bins are drawn
    (as gaps), so the axis is even in time."""
    left, plot_h, bottom = 34, 150, 46
    height = 30 + plot_h + bottom
    n = max(len(bins), 1)
    step = (width - left - 10) / n
    bar = max(min(step * 0.7, 40), 2)
    top = max((sum(c.values()) for _, c in bins), default=0) or 1
    parts = _open(width, height, title, "chart")
    base = 30 + plot_h
    parts.append(f'<line x1="{left}" y1="{base}" x2="{width - 10}" y2="{base}" class="axis"/>')
    parts.append(f'<text x="{left - 4}" y="{34}" text-anchor="end" class="svg-label">{top:,}</text>')
    label_every = max(1, round(n / 12))  # about a dozen labels whatever the span
    for i, (label, counts) in enumerate(bins):
        x = left + i * step + (step - bar) / 2
        y = float(base)
        for cat in order:
            c = counts.get(cat, 0)
            if not c:
                continue
            h = plot_h * c / top
            y -= h
            parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" fill="{_colour(cat)}">'
                         f"<title>{escape(label)}: {c:,} {escape(cat)}</title></rect>")  # fmt: skip
        total = sum(counts.values())
        if total:
            parts.append(f'<text x="{x + bar / 2:.1f}" y="{y - 3:.1f}" text-anchor="middle" class="svg-label">'
                         f"{total:,}</text>")  # fmt: skip
        if i % label_every == 0:
            parts.append(f'<text x="{x + bar / 2:.1f}" y="{base + 14}" text-anchor="middle" class="svg-label">'
                         f"{escape(label)}</text>")  # fmt: skip
    parts += _legend(left, base + 38, [(_colour(cat), cat) for cat in order], step=120)
    parts.append("</svg>")
    return Markup("".join(parts))


def months_between(start: dt.date, end: dt.date) -> list[dt.date]:
    """First days of the months from start's month to end's month, inclusive."""
    out, d = [], start.replace(day=1)
    while d <= end:
        out.append(d)
        d = (d.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return out


def expiry_timeline(
    lanes: list[tuple[str, list[tuple[str, dt.date, str]]]],
    *,
    as_of: dt.date,
    window_days: int,
    title: str,
    legend: dict[str, str],
    width: int = 1000,
) -> Markup:
    """A month axis with, per lane (e.g. expiry, destruction), one small mark per item
    stacked in the month it falls in; item: (label for its tooltip, date, category of
    PALETTE). The as-of day is a line and the next `window_days` are shaded, so what falls
    due soon stands out at a glance."""
    dates = [d for _, items in lanes for _, d, _ in items] + [as_of, as_of + dt.timedelta(days=window_days)]
    months = months_between(min(dates), max(dates))
    left, right = 110, 10
    month_w = (width - left - right) / len(months)
    per_month: dict[tuple[int, dt.date], list[tuple[str, dt.date, str]]] = {}
    for i, (_, items) in enumerate(lanes):
        for item in sorted(items, key=lambda t: (t[1], t[0])):
            per_month.setdefault((i, item[1].replace(day=1)), []).append(item)
    tallest = max((len(v) for v in per_month.values()), default=1)
    unit = max(min(8.0, 64 / tallest), 1.5)  # one mark per item; many in a month become a bar
    lane_h = unit * tallest + 14
    top = 44
    height = top + lane_h * len(lanes) + 60

    def x_of(d: dt.date) -> float:
        m = months.index(d.replace(day=1))
        days = ((d.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - d.replace(day=1)).days
        return left + (m + (d.day - 1) / days) * month_w

    parts = _open(width, height, title, "chart timeline", cap=False)
    axis = top + lane_h * len(lanes)
    x0, x1 = x_of(as_of), x_of(min(as_of + dt.timedelta(days=window_days), months[-1].replace(day=28)))
    parts.append(f'<rect x="{x0:.1f}" y="{top - 6}" width="{max(x1 - x0, 1):.1f}" height="{axis - top + 6}" '
                 f'class="window"><title>the {window_days} days after {as_of}</title></rect>')  # fmt: skip
    for i, (name, _) in enumerate(lanes):
        base = top + lane_h * (i + 1) - 4
        parts.append(
            f'<text x="{left - 8}" y="{base - 2:.0f}" text-anchor="end" class="svg-label">{escape(name)}</text>'
        )
        parts.append(f'<line x1="{left}" y1="{base:.0f}" x2="{width - right}" y2="{base:.0f}" class="lane"/>')
        for m, month in enumerate(months):
            for k, (label, d, cat) in enumerate(per_month.get((i, month), [])):
                y = base - (k + 1) * unit
                x = left + m * month_w + month_w * 0.2
                parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{month_w * 0.6:.1f}" '
                             f'height="{max(unit - 1, 1):.1f}" fill="{_colour(cat)}">'
                             f"<title>{escape(label)}: {d}</title></rect>")  # fmt: skip
    parts.append(f'<line x1="{left}" y1="{axis}" x2="{width - right}" y2="{axis}" class="axis"/>')
    for m, month in enumerate(months):
        x = left + m * month_w
        # a year label at each January, and at the first month unless a January follows soon
        if month.month == 1 or (m == 0 and month.month < 11):
            parts.append(f'<line x1="{x:.1f}" y1="{axis}" x2="{x:.1f}" y2="{axis + 6}" class="axis"/>'
                         f'<text x="{x + 2:.1f}" y="{axis + 17}" class="svg-label">{month:%Y-%m}</text>')  # fmt: skip
        elif month.month in (4, 7, 10):
            parts.append(f'<line x1="{x:.1f}" y1="{axis}" x2="{x:.1f}" y2="{axis + 3}" class="axis"/>')
    parts.append(f'<line x1="{x0:.1f}" y1="{top - 10}" x2="{x0:.1f}" y2="{axis}" class="asof"/>'
                 f'<text x="{x0 + 3:.1f}" y="{top - 12}" class="svg-label">as of {as_of}</text>')  # fmt: skip
    parts += _legend(left, axis + 42, [(_colour(k), v) for k, v in legend.items()], step=190)
    parts.append("</svg>")
    return Markup("".join(parts))


def _label_lines(label: str, limit: int = 27) -> list[str]:
    """A node label in one line, or two broken at an underscore (names are snake_case);
    only a name too long for two lines is shortened, with an ellipsis."""
    if len(label) <= limit:
        return [label]
    cut = label.rfind("_", 0, limit)
    cut = cut + 1 if cut > 0 else limit
    rest = label[cut:]
    return [label[:cut], rest if len(rest) <= limit else rest[: limit - 1] + "…"]


def layered_graph(
    columns: list[tuple[str, list[tuple[str, list[str]]]]],
    edges: list[tuple[str, str]],
    *,
    highlight: set[str] = frozenset(),
    guarded: set[tuple[str, str]] = frozenset(),
    title: str = "",
) -> Markup:
    """Nodes in columns (one per layer, left to right; within a column, groups of nodes
    under a small heading each, e.g. the schemas of the raw layer), edges as curves; an
    edge within one column bends out to its right. Highlighted nodes and the edges between
    them are drawn in red; `guarded` edges get a mark. The width is fixed by the number of
    columns and scales to the page (see the module note), so every layer is always shown."""
    col_w, node_w, line_h, gap, head_h = 200, 176, 12, 6, 18
    pos: dict[str, tuple[float, float, float]] = {}  # node -> x, y, height
    parts: list[str] = []
    bottom = 60.0
    for i, (layer, groups) in enumerate(columns):
        x = 10 + i * col_w
        parts.append(f'<text x="{x}" y="40" class="svg-layer">{escape(layer)}</text>')
        y = 50.0
        for group, nodes in groups:
            if len(groups) > 1 or group != layer:
                parts.append(f'<text x="{x}" y="{y + 12:.0f}" class="svg-group">{escape(group)}</text>')
                y += head_h
            for node in nodes:
                lines = _label_lines(node.split(".", 1)[-1])
                h = 8 + line_h * len(lines)
                pos[node] = (x, y, h)
                hot = "node hot" if node in highlight else "node"
                spans = "".join(f'<tspan x="{x + 6}" dy="{line_h if k else 0}">{escape(t)}</tspan>'
                                for k, t in enumerate(lines))  # fmt: skip
                parts.append(f'<g class="{hot}"><rect x="{x}" y="{y:.0f}" width="{node_w}" height="{h}" rx="4"/>'
                             f'<text y="{y + 14:.0f}">{spans}</text><title>{escape(node)}</title></g>')  # fmt: skip
                y += h + gap
            y += 4
        bottom = max(bottom, y)
    curves: list[str] = []
    for a, b in edges:
        if a not in pos or b not in pos:
            continue
        (xa, ya, ha), (xb, yb, hb) = pos[a], pos[b]
        y1, y2 = ya + ha / 2, yb + hb / 2
        cls = "edge hot" if a in highlight and b in highlight else "edge"
        if xa == xb:  # same layer (a model on another of its layer): a loop out to the right
            x1 = xa + node_w
            bend = x1 + 10 + min(abs(y2 - y1) / 8, 12)
            d = f"M{x1:.0f},{y1:.0f} C{bend:.0f},{y1:.0f} {bend:.0f},{y2:.0f} {x1:.0f},{y2:.0f}"
        else:
            x1, x2 = xa + node_w, xb
            mid = (x1 + x2) / 2
            d = f"M{x1:.0f},{y1:.0f} C{mid:.0f},{y1:.0f} {mid:.0f},{y2:.0f} {x2:.0f},{y2:.0f}"
        curves.append(f'<path class="{cls}" d="{d}"/>')
        if (a, b) in guarded:
            curves.append(f'<g class="guard"><rect x="{xb - 14:.0f}" y="{y2 - 7:.0f}" width="12" height="14" rx="3"/>'
                          f"<title>guarded: withheld where the registry restricts it</title></g>")  # fmt: skip
    width = 10 + col_w * len(columns)
    height = bottom + 10
    # edges first, so the nodes are drawn over them
    svg = [*_open(width, height, title, "graph", cap=False), *curves, *parts, "</svg>"]
    return Markup("".join(svg))
