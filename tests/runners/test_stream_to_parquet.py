"""`stream_to_parquet` (fcompile/runners/external.py), how the PostgreSQL, Spark, Snowflake and BigQuery
runners write a dataset's file: the batches go into a file beside the path as they arrive, which is then
renamed over it. A failure while streaming - the engine's error mid-result, or the process interrupted -
leaves no file at a new path, the old file at the path as it was, and no temporary file; the error goes
on unchanged (the runners raise their engine errors as diagnostics). The reader is closed either way."""

from __future__ import annotations

import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from fcompile.diagnostics import Code, DiagnosticError
from fcompile.runners.base import engine_error
from fcompile.runners.external import stream_to_parquet

SCHEMA = pa.schema([("id", pa.int64()), ("name", pa.string())])


def batch(*ids: int) -> pa.RecordBatch:
    return pa.record_batch([pa.array(ids, pa.int64()), pa.array([f"n{i}" for i in ids], pa.string())], schema=SCHEMA)


class ClosedReader:
    """A RecordBatchReader (pyarrow's, over the batches given) that notes whether it was closed."""

    def __init__(self, batches) -> None:
        self._reader = pa.RecordBatchReader.from_batches(SCHEMA, batches)
        self.schema = self._reader.schema
        self.closed = False

    def __iter__(self):
        return iter(self._reader)

    def close(self) -> None:
        self.closed = True
        self._reader.close()


def failing_after(error: BaseException, *batches: pa.RecordBatch):
    """The batches, then `error` - as an engine's result that fails part-way."""
    yield from batches
    raise error


def write_old_file(path) -> bytes:
    pq.write_table(pa.table({"old": ["previous run"]}), path)
    return path.read_bytes()


def test_the_batches_become_the_file_and_their_rows_are_counted(tmp_path):
    path = tmp_path / "new" / "folder" / "out.parquet"  # folders made as needed
    reader = ClosedReader([batch(1, 2), batch(), batch(3, 4, 5)])
    assert stream_to_parquet(reader, str(path)) == 5
    assert pq.read_table(path) == pa.Table.from_batches([batch(1, 2, 3, 4, 5)])
    assert reader.closed and os.listdir(path.parent) == ["out.parquet"]


def test_an_empty_result_is_a_file_with_the_schema_and_no_rows(tmp_path):
    path = tmp_path / "out.parquet"
    assert stream_to_parquet(ClosedReader([]), str(path)) == 0
    written = pq.read_table(path)
    assert written.schema == SCHEMA and written.num_rows == 0


def test_the_old_file_is_read_whole_until_the_new_one_is_complete(tmp_path):
    path = tmp_path / "out.parquet"
    old = write_old_file(path)
    seen = []

    def batches():
        yield batch(1)
        seen.append((path.read_bytes(), sorted(os.listdir(tmp_path))))  # mid-stream: the old file, a temporary
        yield batch(2)

    assert stream_to_parquet(ClosedReader(batches()), str(path)) == 2
    ((during, listing),) = seen
    assert during == old
    assert len(listing) == 2 and listing[1] == "out.parquet"
    assert listing[0].startswith(".out.parquet.") and listing[0].endswith(".tmp")  # beside it: one rename, same disk
    assert pq.read_table(path).column("id").to_pylist() == [1, 2]
    assert os.listdir(tmp_path) == ["out.parquet"]


FAILURES = {
    "an engine error": engine_error("dataset 'training'", "PostgreSQL", RuntimeError("canceling statement due to "
                                                                                      "statement timeout")),
    "a driver's own error": ConnectionResetError("the server closed the connection"),
    "an interrupt": KeyboardInterrupt(),
}


@pytest.mark.parametrize("failure", FAILURES.values(), ids=FAILURES.keys())
def test_a_failure_mid_stream_keeps_the_old_file(tmp_path, failure):
    path = tmp_path / "out.parquet"
    old = write_old_file(path)
    reader = ClosedReader(failing_after(failure, batch(1, 2), batch(3)))
    with pytest.raises(type(failure)) as caught:
        stream_to_parquet(reader, str(path))
    assert caught.value is failure
    assert path.read_bytes() == old
    assert os.listdir(tmp_path) == ["out.parquet"]  # the temporary file is gone
    assert reader.closed


def test_a_failure_mid_stream_leaves_no_file_at_a_new_path(tmp_path):
    path = tmp_path / "out.parquet"
    failure = engine_error("dataset 'training'", "Snowflake", RuntimeError("Warehouse 'W' was suspended"))
    reader = ClosedReader(failing_after(failure, batch(1), batch(2)))
    with pytest.raises(type(failure)) as caught:
        stream_to_parquet(reader, str(path))
    assert [d.code for d in caught.value.diagnostics] == [Code.ENGINE_ERROR]
    assert "Warehouse 'W' was suspended" in caught.value.diagnostics[0].message
    assert os.listdir(tmp_path) == [] and reader.closed


def test_a_failure_before_the_first_batch_leaves_no_file(tmp_path):
    path = tmp_path / "out.parquet"
    failure = engine_error("dataset 'training'", "BigQuery", RuntimeError("Access Denied"))
    with pytest.raises(type(failure)):
        stream_to_parquet(ClosedReader(failing_after(failure)), str(path))
    assert os.listdir(tmp_path) == []


def test_a_rename_that_fails_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "out.parquet"
    old = write_old_file(path)

    def refuse(source, destination):
        raise PermissionError(13, "Permission denied", destination)

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(DiagnosticError) as raised:
        stream_to_parquet(ClosedReader([batch(1)]), str(path))
    (found,) = raised.value.diagnostics
    assert found.code is Code.OUTPUT_UNWRITABLE and found.message == f"cannot write {path}: Permission denied"
    assert path.read_bytes() == old and os.listdir(tmp_path) == ["out.parquet"]


def test_a_folder_at_the_path_is_fc135_and_stays(tmp_path):
    path = tmp_path / "out.parquet"
    path.mkdir()
    reader = ClosedReader([batch(1), batch(2)])
    with pytest.raises(DiagnosticError) as raised:
        stream_to_parquet(reader, str(path))
    (found,) = raised.value.diagnostics
    assert found.code is Code.OUTPUT_UNWRITABLE and str(path) in found.message
    assert path.is_dir() and os.listdir(tmp_path) == ["out.parquet"] and reader.closed


def test_a_write_that_fails_mid_stream_is_fc135(tmp_path, monkeypatch):
    """A full disk, say: the file's own error is FC135, unlike the reader's, which go on unchanged."""
    path = tmp_path / "out.parquet"
    written = []

    def write_batch(self, data, row_group_size=None):
        if written:
            raise OSError(28, "No space left on device")
        written.append(data)

    monkeypatch.setattr(pq.ParquetWriter, "write_batch", write_batch)
    with pytest.raises(DiagnosticError) as raised:
        stream_to_parquet(ClosedReader([batch(1), batch(2)]), str(path))
    assert raised.value.diagnostics[0].message == f"cannot write {path}: No space left on device"
    assert os.listdir(tmp_path) == []
