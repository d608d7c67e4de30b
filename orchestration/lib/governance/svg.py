"""Small inline-SVG pictures for the governance report (no JavaScript, no network).

Every text or attribute value put into a picture is escaped here (html.escape, quotes
included); numbers and the palette are the only other things interpolated. So each
picture is returned as markupsafe.Markup, which the report's autoescaping template
inserts as it is."""

from html import escape

from markupsafe import Markup

PALETTE = {"published": "#4c9a6a", "recoded": "#e0a84f", "suppressed": "#c4473a", "other": "#9aa5b1"}


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
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">',
             f'<text x="0" y="16" class="svg-title">{escape(title)}</text>']  # fmt: skip
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
                         f'fill="{PALETTE.get(cat, PALETTE["other"])}"><title>{escape(label)}: {n:,} {escape(cat)} '
                         f'({100 * n / total:.1f}%)</title></rect>')  # fmt: skip
            x += w
        share = 100 * counts.get(order[-1], 0) / total
        parts.append(f'<text x="{label_w + bar_w + 6}" y="{y + 14}" class="svg-label">{share:.0f}%</text>')
    ly = 30 + row_h * len(rows) + 14
    for j, cat in enumerate(order):
        shown = legend.get(cat, cat)
        parts.append(f'<rect x="{label_w + j * 120}" y="{ly - 10}" width="12" height="12" '
                     f'fill="{PALETTE.get(cat, PALETTE["other"])}"/>'
                     f'<text x="{label_w + j * 120 + 16}" y="{ly}" class="svg-label">{escape(shown)}</text>'
                     )  # fmt: skip
    parts.append("</svg>")
    return Markup("".join(parts))


def layered_graph(
    layers: list[tuple[str, list[str]]],
    edges: list[tuple[str, str]],
    *,
    highlight: set[str] = frozenset(),
    guarded: set[tuple[str, str]] = frozenset(),
    title: str = "",
) -> Markup:
    """Nodes in columns (one per layer, left to right), edges as curves. Highlighted nodes
    and the edges between them are drawn in red; `guarded` edges get a shield mark."""
    col_w, node_h, gap = 170, 22, 8
    width = col_w * len(layers) + 20
    tallest = max((len(nodes) for _, nodes in layers), default=1)
    height = 60 + tallest * (node_h + gap) + 20
    pos: dict[str, tuple[float, float]] = {}
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="graph" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">',
             f'<text x="4" y="16" class="svg-title">{escape(title)}</text>']  # fmt: skip
    for i, (layer, nodes) in enumerate(layers):
        x = 10 + i * col_w
        parts.append(f'<text x="{x}" y="40" class="svg-layer">{escape(layer)}</text>')
        for j, node in enumerate(nodes):
            pos[node] = (x, 52 + j * (node_h + gap))
    for a, b in edges:
        if a not in pos or b not in pos:
            continue
        (x1, y1), (x2, y2) = pos[a], pos[b]
        x1, y1, y2 = x1 + col_w - 24, y1 + node_h / 2, y2 + node_h / 2
        hot = a in highlight and b in highlight
        cls = "edge hot" if hot else "edge"
        mid = (x1 + x2) / 2
        parts.append(f'<path class="{cls}" d="M{x1:.0f},{y1:.0f} C{mid:.0f},{y1:.0f} {mid:.0f},{y2:.0f} '
                     f'{x2:.0f},{y2:.0f}"/>')  # fmt: skip
        if (a, b) in guarded:
            parts.append(f'<g class="guard"><rect x="{x2 - 16:.0f}" y="{y2 - 7:.0f}" width="12" height="14" rx="3"/>'
                         f'<title>guarded: withheld where the registry restricts it</title></g>')  # fmt: skip
    for node, (x, y) in pos.items():
        cls = "node hot" if node in highlight else "node"
        label = node.split(".", 1)[-1]
        short = label if len(label) <= 23 else label[:22] + "…"
        parts.append(
            f'<g class="{cls}"><rect x="{x}" y="{y}" width="{col_w - 24}" height="{node_h}" rx="4"/>'
            f'<text x="{x + 6}" y="{y + 15}">{escape(short)}</text><title>{escape(node)}</title></g>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))
