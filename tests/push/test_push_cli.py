"""`fcompile push SOURCE --file rows.parquet|rows.csv [--to ...]`: the SDK's push from the command line,
errors as diagnostics and exit code 1."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
from push_projects import at, online_values, stats_rows, training_values

from fcompile import FeatureStore
from fcompile.cli import main


def cli(capsys, *args: str) -> tuple[int, str, str]:
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_push_a_parquet_file_online(capsys, project, tmp_path):
    rows = tmp_path / "rows.parquet"
    pq.write_table(pa.table(stats_rows([1, 3], [at(11), at(12)], [0.5, 0.7], [5, 7], ["x", None])), rows)
    code, out, err = cli(capsys, "push", "stats_push", "--file", str(rows), "--project-dir", str(project))
    assert (code, err) == (0, "")
    assert out == "pushed 2 rows to 'stats_push': online views written: driver_stats; rows appended offline: 0\n"
    with FeatureStore(project) as fs:
        assert online_values(fs, "driver_stats", ["trips"], [1, 3]) == {
            1: ({"trips": 5}, "2024-01-01T11:00:00Z"), 3: ({"trips": 7}, "2024-01-01T12:00:00Z")}


def test_push_a_csv_file_offline(capsys, project, tmp_path):
    rows = tmp_path / "rows.csv"
    rows.write_text("driver_id,event_timestamp,conversion,trips,note\n"
                    "1,2024-01-01T11:00:00Z,0.5,5,x\n"
                    "6,2024-01-01 11:30:00,0.6,6,\n")
    code, out, err = cli(capsys, "push", "stats_push", "-f", str(rows), "--to", "offline", "--project-dir",
                         str(project))
    assert (code, err) == (0, ""), err
    assert "rows appended offline: 2" in out
    with FeatureStore(project) as fs:
        assert training_values(fs, "driver_stats", "conv_rate", [1, 6], at(12)) == [0.5, 0.6]


def test_errors_are_diagnostics(capsys, project, tmp_path):
    rows = tmp_path / "rows.parquet"
    pq.write_table(pa.table(stats_rows([1], [at(11)], [0.5])), rows)
    cases = [
        (["stats_push", "--file", str(rows), "--to", "somewhere"], "error[FC123]: unknown push destination 'somewhere'"),
        (["stat_push", "--file", str(rows)], "error[FC031]: unknown push source 'stat_push'\n  hint: did you mean"),
        (["stats_push", "--file", str(tmp_path / "none.parquet")], "error[FC004]: rows file not found: "),
        (["stats_push", "--file", str(tmp_path / "rows.json")], "error[FC090]: cannot tell the format of"),
    ]
    for args, expected in cases:
        code, out, err = cli(capsys, "push", *args, "--project-dir", str(project))
        assert code == 1 and expected in err, err
        assert "Traceback" not in out + err
