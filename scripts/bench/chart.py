"""`make bench`'s chart: a hand-written SVG (no plotting library to install, text that diffs).

Two bar panels share the binaries' rows: the first response (median, ms) and the peak RSS
(median, MB) of every binary, the two references in another colour, each panel with a dashed
line at the issue's limit (1.25x and 1.3x the SDK floor). Below: the other targets as ratios
against their limits (gateway/function-URL req/s, saga p50 / 500 ms), and cached/uncached.
"""

from html import escape

FUNCTION = "#4c78a8"
REFERENCE = "#f58518"
MISS = "#e45756"
LIMIT = "#222"


def _bars(x0, y0, width, rows, values, limit, unit, title):
    """One panel: a bar per row (value or None), a dashed limit line; SVG elements."""
    out = [f'<text x="{x0}" y="{y0 - 8}" font-weight="bold">{escape(title)}</text>']
    top = max([v for v in values if v is not None] + [limit or 0]) * 1.1 or 1
    scale = width / top
    for i, (name, is_ref) in enumerate(rows):
        v = values[i]
        y = y0 + i * 18
        if v is None:
            out.append(f'<text x="{x0 + 2}" y="{y + 12}" fill="{MISS}">failed</text>')
            continue
        colour = REFERENCE if is_ref else (MISS if limit and v > limit else FUNCTION)
        out.append(f'<rect x="{x0}" y="{y}" width="{max(v * scale, 1):.1f}" height="14" fill="{colour}"/>')
        out.append(f'<text x="{x0 + v * scale + 4:.1f}" y="{y + 11}" font-size="10">{v:.1f}</text>')
    if limit:
        x = x0 + limit * scale
        h = len(rows) * 18
        out.append(f'<line x1="{x:.1f}" y1="{y0 - 4}" x2="{x:.1f}" y2="{y0 + h}" stroke="{LIMIT}" stroke-dasharray="4 3"/>')
        out.append(f'<text x="{x:.1f}" y="{y0 + h + 12}" font-size="10" text-anchor="middle">limit {limit:.1f} {unit}</text>')
    return out


def svg(results):
    """The chart of `results` (bench.py's dict) as an SVG document."""
    cold = results.get("coldstart") or {}
    rows = [(name, name in ("sdk-floor", "hello-http")) for name in cold]
    first = [r["first_ms"]["median"] if "first_ms" in r else None for r in cold.values()]
    rss = [r["rss_kib"]["median"] / 1024 if "rss_kib" in r else None for r in cold.values()]
    floor = cold.get("sdk-floor", {})
    first_limit = floor["first_ms"]["median"] * 1.25 if "first_ms" in floor else None
    rss_limit = floor["rss_kib"]["median"] / 1024 * 1.3 if "rss_kib" in floor else None
    label_w, panel_w, gap = 150, 300, 70
    y0 = 60
    height_rows = len(rows) * 18
    ratios_y = y0 + height_rows + 60
    ratios = []
    gw = results.get("gateway") or {}
    if gw.get("rps_ratio") is not None:
        ratios.append(("gateway / function URL req/s", gw["rps_ratio"], 0.8, ">="))
    saga = results.get("saga") or {}
    if saga.get("p50_ms") is not None:
        ratios.append(("saga p50 / 500 ms", saga["p50_ms"] / 500, 1.0, "<="))
    cache = results.get("cache") or {}
    if cache.get("rps_ratio") is not None:
        ratios.append(("cached / uncached req/s", cache["rps_ratio"], None, ""))
    width = label_w + 2 * panel_w + gap + 80
    height = ratios_y + 30 + len(ratios) * 22 + 20
    m = results.get("machine", {})
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="11">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="10" y="20" font-size="14" font-weight="bold">make bench: cold start per binary (release), '
        f'{results.get("config", {}).get("runs", "?")} runs, medians</text>',
        f'<text x="10" y="36" font-size="10" fill="#555">{escape(str(m.get("cpu")))}, {m.get("cores")} cores, '
        f'{escape(str(m.get("kernel")))}, {escape(str(m.get("rustc")))}, {escape(str(m.get("date")))}, '
        f'{escape(str(m.get("git_commit") or "")[:12])}</text>',
    ]
    for i, (name, is_ref) in enumerate(rows):
        weight = ' font-weight="bold"' if is_ref else ""
        out.append(f'<text x="{label_w - 6}" y="{y0 + i * 18 + 11}" text-anchor="end"{weight}>{escape(name)}</text>')
    out += _bars(label_w, y0, panel_w, rows, first, first_limit, "ms", "first response (ms)")
    out += _bars(label_w + panel_w + gap, y0, panel_w, rows, rss, rss_limit, "MB", "peak RSS (MB)")
    out.append(f'<text x="10" y="{ratios_y}" font-weight="bold">other targets (ratio; dashed: the limit)</text>')
    ratio_x = 200
    scale = panel_w / max([r[1] for r in ratios] + [1.2]) / 1.1 if ratios else 1
    for i, (label, value, limit, sense) in enumerate(ratios):
        y = ratios_y + 14 + i * 22
        ok = limit is None or (value >= limit if sense == ">=" else value <= limit)
        out.append(f'<text x="{ratio_x - 6}" y="{y + 11}" text-anchor="end">{escape(label)}</text>')
        out.append(f'<rect x="{ratio_x}" y="{y}" width="{max(value * scale, 1):.1f}" height="14" fill="{FUNCTION if ok else MISS}"/>')
        verdict = "" if limit is None else (" PASS" if ok else " MISS")
        out.append(f'<text x="{ratio_x + value * scale + 4:.1f}" y="{y + 11}" font-size="10">{value:.2f}{verdict}</text>')
        if limit is not None:
            x = ratio_x + limit * scale
            out.append(f'<line x1="{x:.1f}" y1="{y - 2}" x2="{x:.1f}" y2="{y + 16}" stroke="{LIMIT}" stroke-dasharray="4 3"/>')
    legend_y = height - 14
    out.append(f'<rect x="10" y="{legend_y - 9}" width="10" height="10" fill="{FUNCTION}"/><text x="24" y="{legend_y}">function</text>')
    out.append(f'<rect x="90" y="{legend_y - 9}" width="10" height="10" fill="{REFERENCE}"/><text x="104" y="{legend_y}">reference (sdk-floor: one GetItem; hello-http: lambda_http alone)</text>')
    out.append(f'<rect x="520" y="{legend_y - 9}" width="10" height="10" fill="{MISS}"/><text x="534" y="{legend_y}">over the limit (MISS)</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"
