"""The fcompile dtype of an Arrow type: what a Parquet file's or a seed's column holds, in the graph's terms
(source_schema.py checks sources against files, seeds.py reads seed files; both ask it)."""

from __future__ import annotations

from fcompile.graph import DType


def arrow_to_dtype(arrow_type) -> DType | None:
    """The fcompile dtype of an Arrow type, or None where no dtype corresponds."""
    import pyarrow as pa
    import pyarrow.types as t

    if t.is_boolean(arrow_type):
        return DType("bool")
    if t.is_int64(arrow_type) or t.is_uint32(arrow_type):
        return DType("int64")
    if t.is_int32(arrow_type) or t.is_int16(arrow_type) or t.is_int8(arrow_type) or t.is_uint16(arrow_type) \
            or t.is_uint8(arrow_type):
        return DType("int32")
    if t.is_float64(arrow_type):
        return DType("float64")
    if t.is_float32(arrow_type) or t.is_float16(arrow_type):
        return DType("float32")
    if t.is_string(arrow_type) or t.is_large_string(arrow_type) or getattr(t, "is_string_view", lambda _: False)(arrow_type):
        return DType("string")
    if t.is_binary(arrow_type) or t.is_large_binary(arrow_type) or t.is_fixed_size_binary(arrow_type):
        return DType("bytes")
    if t.is_date(arrow_type):
        return DType("date")
    if t.is_timestamp(arrow_type):
        return DType("timestamp")
    if t.is_list(arrow_type) or t.is_large_list(arrow_type):
        element = arrow_to_dtype(arrow_type.value_type)
        return DType("array", element) if element is not None and not element.is_array else None
    if isinstance(arrow_type, pa.DictionaryType):
        return arrow_to_dtype(arrow_type.value_type)
    return None
