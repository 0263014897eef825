"""The benchmark scripts' report building, on tiny inputs (timings are not tested)."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from bbans_numba.bbans import CodingSettings
from bench import bench_mnist, report

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def tiny_images():
    return np.random.default_rng(0).integers(0, 256, size=(5, 28, 28), dtype=np.uint8)


def test_markdown_table_labels_published_rows_and_missing_values():
    rows = [
        {"name": "gzip -9, one stream", "bits_per_dim": 1.6351, "round_trip_ok": True},
        {"name": "broken", "bits_per_dim": 9.0, "round_trip_ok": False},
        {"name": "BB-ANS paper", "bits_per_dim": 1.41, "reference": True},
    ]
    table = report.markdown_table(rows, [("name", "codec", None), ("bits_per_dim", "bits/dim", 3),
                                         ("round_trip_ok", "lossless", None)])
    lines = table.splitlines()
    assert lines[0] == "| codec | bits/dim | lossless |"
    assert "| gzip -9, one stream | 1.635 | yes |" in lines
    assert "| broken | 9.000 | **NO** |" in lines
    assert "| *BB-ANS paper (published)* | 1.410 | – |" in lines


def test_json_and_plot_are_written(tmp_path):
    rows = [{"name": "a", "family": "bbans", "bits_per_dim": 1.3, "decompress_images_per_s": 1000.0},
            {"name": "b", "family": "classical", "bits_per_dim": 1.6, "decompress_images_per_s": 1e5},
            {"name": "ref", "bits_per_dim": 1.41, "reference": True}]
    machine = report.machine_info()
    assert machine["cores"] >= 1 and machine["cpu"]
    path = report.write_json(tmp_path / "out" / "r.json", machine, rows, {"count": 5})
    assert json.loads(path.read_text())["rows"][2]["reference"] is True
    plot = report.plot_rate_vs_speed(tmp_path / "r.png", rows, "test")
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_time_median_respects_repeats_and_budget():
    calls = []
    seconds, result, runs = report.time_median(lambda: calls.append(1) or len(calls), repeats=3, warmup=1)
    assert (len(calls), result, runs) == (4, 4, 3) and seconds >= 0
    _, _, runs = report.time_median(lambda: None, repeats=5, warmup=0, budget_s=0.0)
    assert runs == 1


@pytest.mark.parametrize("count, max_side, layout", [(5, None, "one strip"), (5, 1000, "one strip"),
                                                     (7, 60, "one grid"), (1, 28, "one strip")])
def test_one_image_layouts_round_trip(count, max_side, layout):
    images = np.random.default_rng(count).integers(0, 256, size=(count, 28, 28), dtype=np.uint8)
    picture, got_layout = bench_mnist.as_one_image(images, max_side)
    assert got_layout == layout
    if max_side:
        assert max(picture.shape) <= max(max_side, 28 * 3)
    assert np.array_equal(bench_mnist.from_one_image(picture, got_layout, images.shape), images)


def test_classical_rows_measure_real_round_trips(tiny_images):
    rows = bench_mnist.classical_rows(tiny_images, {"gzip -9", "PNG (Pillow, optimize)"}, repeats=1)
    assert [row["name"] for row in rows] == ["gzip -9, per image", "gzip -9, one stream",
                                             "PNG (Pillow, optimize), per image", "PNG (Pillow, optimize), one strip"]
    for row in rows:
        assert row["round_trip_ok"] is True
        assert row["bits_per_dim"] == pytest.approx(8 * row["bytes"] / tiny_images.size)
        assert row["compress_images_per_s"] > 0


def test_measure_flags_a_lossy_codec(tiny_images):
    row = bench_mnist.measure("lossy", "classical", "per image", lambda: [b"x"],
                              lambda blobs: np.zeros_like(tiny_images), tiny_images, repeats=1)
    assert row["round_trip_ok"] is False
    assert row["bits_per_dim"] == pytest.approx(8 / tiny_images.size)


def test_quick_run_without_matplotlib_prints_the_table_and_how_to_get_the_plot(tmp_path, monkeypatch, capsys):
    asked = {}

    def no_bbans_rows(images, model_names, quantizers, bucket_bits_list, chains, repeats):
        asked.update(quantizers=quantizers, bucket_bits=bucket_bits_list)
        return []

    monkeypatch.setattr(bench_mnist, "bbans_rows", no_bbans_rows)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    status = bench_mnist.main(["--quick", "--data", "mnist:sample", "--limit", "4", "--out", str(tmp_path / "b")])
    out = capsys.readouterr().out
    assert status == 0
    assert asked == {"quantizers": [CodingSettings().quantizer], "bucket_bits": [None]}  # the codec's defaults
    assert "| WebP lossless (Pillow, method 6), per image |" in out
    assert 'no plot: matplotlib is not installed; pip install ".[bench]" adds it' in out
    assert (tmp_path / "b.json").is_file() and not (tmp_path / "b.png").exists()


def test_plot_colours_are_distinct_per_codec_and_markers_say_how(tmp_path):
    saved = json.loads((REPO_ROOT / "docs" / "bench_mnist.json").read_text())
    rows = saved["rows"]
    colours = report.codec_colours(rows)
    codecs = {row["codec"] for row in rows if not row.get("reference")}
    assert set(colours) == codecs and len(set(colours.values())) == len(codecs)
    bbans_codecs = {codec for codec in codecs if codec.startswith("bbans ")}  # one per shipped model
    assert {"bbans mnist", "bbans mnist-mlp", "bbans mnist-fast"} <= bbans_codecs
    assert {colours[codec] for codec in bbans_codecs} <= set(report.BBANS_COLOURS)
    kinds = [report.marker_kind(row) for row in rows if not row.get("reference")]
    assert kinds.count("bbans default") == len(bbans_codecs) and kinds.count("per image") == kinds.count("together")
    assert bench_mnist.main(["--replot", str(REPO_ROOT / "docs" / "bench_mnist.json"),
                             "--out", str(tmp_path / "plot")]) == 0
    assert (tmp_path / "plot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
