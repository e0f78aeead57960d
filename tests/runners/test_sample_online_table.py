"""`fcompile get-online-features` on the sample as the README reads it (`--service driver_ranking_v2`, 16
columns): too wide for the 200 columns of a pipe, so a row per feature, names and values whole; float32
features (`avg_rating`, `avg_rating_given`) print as the float32 the store holds (3.61), not the double it
widens to (3.609999895095825)."""

from __future__ import annotations

import struct

import pyarrow.compute as pc
import pyarrow.parquet as pq

from fcompile.cli import main


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def as_float32(value: float) -> float:
    return struct.unpack("<f", struct.pack("<f", value))[0]


def test_the_readme_read_prints_a_row_per_feature_with_float32_values_as_stored(sample_project, capsys):
    root = str(sample_project)
    end = "2025-01-15T00:00:00Z"  # where the seeded sample's data ends (tests/seeded_sample.py)
    code, _, err = run_cli(capsys, "materialize", "--project-dir", root, "--end", end)
    assert code == 0, err
    code, out, err = run_cli(capsys, "get-online-features", "--project-dir", root, "--service", "driver_ranking_v2",
                             "-e", "driver_id=1001", "-e", "customer_id=C00000001", "--now", end)
    assert code == 0, err
    lines = out.splitlines()
    assert all(len(line) <= 200 for line in lines)
    rows = {cells[0]: cells[1] for cells in ([c.strip() for c in line.split("│")] for line in lines if "│" in line)}
    assert list(rows)[:3] == ["driver_id", "customer_id", "conv_rate"] and len(rows) == 16
    assert rows["driver_id"] == "1001" and rows["customer_id"] == "C00000001"
    code, document, _ = run_cli(capsys, "get-online-features", "--project-dir", root, "--service",
                                "driver_ranking_v2", "-e", "driver_id=1001", "-e", "customer_id=C00000001",
                                "--now", end, "--json")
    import json

    results = json.loads(document)
    values = dict(zip(results["metadata"]["feature_names"], (r["values"][0] for r in results["results"])))
    rating = values["avg_rating"]
    assert rating is not None and as_float32(rating) == rating
    assert rows["avg_rating"] == repr(float(f"{rating:.7g}")) and len(rows["avg_rating"]) <= 5  # e.g. 3.61
    assert as_float32(float(rows["avg_rating"])) == rating  # reads back as the float32 the store holds
    stats = pq.read_table(sample_project / "seeds" / "driver_stats.parquet")
    ratings = stats.filter(pc.equal(stats["driver_id"], 1001))["avg_rating"].to_pylist()
    assert rating in ratings
