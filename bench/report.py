"""Shared reporting for the benchmark scripts: timing, machine facts, tables, JSON, plots.

Rows are plain dicts; a row with ``"reference": True`` is a published figure, never a
measurement, and is labelled as such everywhere.
"""

import json
import os
import platform
import statistics
import time
from pathlib import Path


def machine_info():
    """Core count, CPU model and software versions, for the record next to every table."""
    cpu_model = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    cpu_model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    import numba
    import numpy

    return {
        "cores": os.cpu_count(),
        "cpu": cpu_model,
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "numba": numba.__version__,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


def time_median(function, repeats=3, warmup=1, budget_s=60.0):
    """Run ``function()`` ``warmup`` times untimed, then up to ``repeats`` times; return
    ``(median seconds, last result, timed runs)``.  Repeats stop early once the timed runs
    have taken ``budget_s`` seconds (a slow row is then reported from fewer runs)."""
    result = None
    for _ in range(warmup):
        result = function()
    times = []
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
        if sum(times) >= budget_s:
            break
    return statistics.median(times), result, len(times)


def _format(value, digits):
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "**NO**"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


def markdown_table(rows, columns):
    """A Markdown table of ``rows`` (dicts) over ``columns``: a list of (key, title, digits)."""
    lines = [
        "| " + " | ".join(title for _, title, _ in columns) + " |",
        "|" + "|".join("---" if i == 0 else "---:" for i in range(len(columns))) + "|",
    ]
    for row in rows:
        cells = []
        for key, _, digits in columns:
            cell = _format(row.get(key), digits)
            if key == "name" and row.get("reference"):
                cell = f"*{cell} (published)*"
            cells.append(cell)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_json(path, machine, rows, settings):
    """Write ``{"machine", "settings", "rows"}`` to ``path`` (folders created)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"machine": machine, "settings": settings, "rows": rows}, indent=2) + "\n")
    return path


# Colours: the bbans models in warm colours, the other codecs in distinct cool/neutral ones;
# each codec (both its layouts) keeps one colour.  Markers say how a codec was used.
BBANS_COLOURS = ["tab:red", "tab:orange", "gold"]
OTHER_COLOURS = ["tab:blue", "tab:green", "tab:purple", "tab:brown", "tab:pink", "tab:cyan", "tab:olive",
                 "black", "tab:gray"]
MARKERS = {  # (family, default settings or layout kind) -> marker, legend text
    "bbans default": ("*", "bbans, default settings"),
    "bbans other": ("o", "bbans, another quantizer or bucket bits"),
    "together": ("s", "all images as one stream / strip / grid"),
    "per image": ("^", "each image on its own"),
}
REFERENCE_STYLES = [":", "--", "-."]


def marker_kind(row):
    """The key of :data:`MARKERS` for a measured row."""
    if row.get("family") == "bbans":
        return "bbans default" if row.get("default_settings") else "bbans other"
    return "per image" if row.get("layout") == "per image" else "together"


def codec_colours(rows):
    """{codec: colour}: bbans codecs first (warm colours), then the others by their best bits/dim."""
    def by_best_rate(is_bbans):
        ordered = sorted((row for row in rows if not row.get("reference") and "bits_per_dim" in row
                          and (row.get("family") == "bbans") == is_bbans), key=lambda row: row["bits_per_dim"])
        return list(dict.fromkeys(row.get("codec", row["name"]) for row in ordered))

    colours = {codec: BBANS_COLOURS[i % len(BBANS_COLOURS)] for i, codec in enumerate(by_best_rate(True))}
    colours.update({codec: OTHER_COLOURS[i % len(OTHER_COLOURS)] for i, codec in enumerate(by_best_rate(False))})
    return colours


def plot_rate_vs_speed(path, rows, title):
    """Bits/dim against decompression images/s (log x) for every measured row.

    Colour = codec (one legend entry each), marker = how it was used (bbans default
    settings or not; other codecs on each image or on all images as one), published
    rate-only references = grey horizontal lines in the legend.  No text is drawn on the
    points, so nothing overprints; the lower right is better, as the arrow shows.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    colours = codec_colours(rows)
    figure, axes = plt.subplots(figsize=(11, 6.2))
    codec_handles, reference_handles = {}, []
    for row in rows:
        if row.get("reference"):
            style = REFERENCE_STYLES[len(reference_handles) % len(REFERENCE_STYLES)]
            line = axes.axhline(row["bits_per_dim"], linestyle=style, color="gray", linewidth=1.2)
            line.set_label(f"{row['name']} (published): {row['bits_per_dim']:.2f}")
            reference_handles.append(line)
            continue
        speed = row.get("decompress_images_per_s")
        if speed is None or row.get("bits_per_dim") is None:
            continue
        codec = row.get("codec", row["name"])
        marker = MARKERS[marker_kind(row)][0]
        axes.scatter(speed, row["bits_per_dim"], marker=marker, s=180 if marker == "*" else 60,
                     color=colours[codec], edgecolors="black", linewidths=0.5, zorder=4 if marker == "*" else 3)
        codec_handles.setdefault(codec, Line2D([], [], linestyle="", marker="o", markersize=8,
                                              color=colours[codec], markeredgecolor="black", label=codec))
    marker_handles = [Line2D([], [], linestyle="", marker=marker, markersize=13 if marker == "*" else 8,
                             color="white", markeredgecolor="black", label=text)
                      for kind, (marker, text) in MARKERS.items()
                      if any(marker_kind(row) == kind for row in rows if not row.get("reference"))]
    axes.set_xscale("log")
    axes.set_xlabel("decompression speed, images/s (log scale) — higher is better →")
    axes.set_ylabel("bits per dimension, all overheads in — lower is better ↓")
    axes.set_title(title, fontsize=10)
    axes.grid(True, which="both", alpha=0.3)
    axes.annotate("better", xy=(0.97, 0.50), xytext=(0.86, 0.62), xycoords="axes fraction",
                  ha="center", va="center", fontsize=10, color="dimgray",
                  arrowprops=dict(arrowstyle="->", color="dimgray", linewidth=1.5))
    codec_legend = axes.legend(handles=[codec_handles[codec] for codec in colours if codec in codec_handles], title="codec (colour)", fontsize=8,
                               title_fontsize=9, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    axes.add_artist(codec_legend)
    axes.legend(handles=marker_handles + reference_handles, title="how (marker) and published results",
                fontsize=8, title_fontsize=9, loc="lower left", bbox_to_anchor=(1.01, 0.0), frameon=False)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(figure)
    return path
