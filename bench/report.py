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


def plot_rate_vs_speed(path, rows, title):
    """Scatter of bits/dim against images/s (log x) for every measured row; published
    rate-only references become horizontal lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(9, 6))
    for row in rows:
        if row.get("reference"):
            axes.axhline(row["bits_per_dim"], linestyle=":", color="gray", linewidth=1)
            axes.annotate(f"{row['name']} (published)", (1.0, row["bits_per_dim"]), xycoords=("axes fraction", "data"),
                          ha="right", va="bottom", fontsize=8, color="gray")
            continue
        speed = row.get("decompress_images_per_s") or row.get("compress_images_per_s")
        if speed is None or row.get("bits_per_dim") is None:
            continue
        marker = "o" if row.get("family") == "bbans" else "s"
        axes.scatter(speed, row["bits_per_dim"], marker=marker)
        axes.annotate(row["name"], (speed, row["bits_per_dim"]), textcoords="offset points", xytext=(4, 3), fontsize=7)
    axes.set_xscale("log")
    axes.set_xlabel("decompression speed, images/s (log scale)")
    axes.set_ylabel("bits per dimension (all overheads in)")
    axes.set_title(title, fontsize=10)
    axes.grid(True, which="both", alpha=0.3)
    figure.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path
