"""Arrow batches to PostgreSQL's binary COPY format, vectorised with numpy.

The server parses binary COPY about 2.7 times faster than CSV (measured here: 10M readings in
7 s against 19 s, one stream), and numpy renders it faster than Arrow renders CSV. A binary row
is a field count, then a length and the bytes of each field, so rows differ in size only by
their NULLs and string lengths. COPY does not care about row order, so rows are grouped by that
"shape" and each group is written in one go as a numpy structured array.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

HEADER = b"PGCOPY\n\xff\r\n\x00" + (0).to_bytes(4, "big") + (0).to_bytes(4, "big")
TRAILER = (-1).to_bytes(2, "big", signed=True)
_PG_EPOCH_US = 946_684_800_000_000
_PG_EPOCH_DAYS = 10_957
_STORAGE = {"timestamp": ">i8", "date": ">i4"}
_US = {"s": 1_000_000, "ms": 1_000, "us": 1, "ns": None}


#: Arrow type -> (PostgreSQL column type, binary encoding or None for CSV only), first match.
#: The one mapping: table creation and the binary encoder both read it.
COLUMN_TYPES: list[tuple[Callable[[pa.DataType], bool], str, str | None]] = [
    (lambda t: pa.types.is_string(t) or pa.types.is_large_string(t), "text", "text"),
    (pa.types.is_boolean, "boolean", "u1"),
    (lambda t: pa.types.is_int8(t) or pa.types.is_int16(t), "smallint", ">i2"),
    (pa.types.is_int32, "integer", ">i4"),
    (pa.types.is_int64, "bigint", ">i8"),
    (pa.types.is_float32, "real", ">f4"),
    (pa.types.is_float64, "double precision", ">f8"),
    (lambda t: pa.types.is_floating(t) or pa.types.is_decimal(t), "double precision", None),
    (pa.types.is_date32, "date", "date"),
    (pa.types.is_date, "date", None),
    # Timestamps are UTC throughout the project; the warehouse stores them without time zone.
    (pa.types.is_timestamp, "timestamp", "timestamp"),
]


def column_type(t: pa.DataType) -> tuple[str, str | None] | None:
    """(PostgreSQL type, binary encoding) of an Arrow type; None when it has no column type."""
    for matches, pg, encoding in COLUMN_TYPES:
        if matches(t):
            return pg, encoding
    return None


def _kind(t: pa.DataType) -> str | None:
    found = column_type(t)
    return found[1] if found else None


def supported(schema: pa.Schema) -> bool:
    """Whether every column has a binary encoding here (else callers use CSV)."""
    return all(_kind(f.type) is not None for f in schema)


def _values(col: pa.Array, kind: str) -> np.ndarray:
    """The column's values as the big-endian numpy dtype PostgreSQL expects (nulls as 0)."""
    if kind == "timestamp":
        unit = col.type.unit
        raw = pc.fill_null(col.cast(pa.int64()), 0).to_numpy()
        us = raw // 1000 if unit == "ns" else raw * _US[unit]
        return (us - _PG_EPOCH_US).astype(">i8")
    if kind == "date":
        days = pc.fill_null(col.cast(pa.int32()), 0).to_numpy()
        return (days - _PG_EPOCH_DAYS).astype(">i4")
    if kind == "u1":
        return pc.fill_null(col, False).to_numpy(zero_copy_only=False).astype("u1")
    return pc.fill_null(col, 0).to_numpy(zero_copy_only=False).astype(kind)


def _text_parts(col: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(starts, lengths, data) of a string column; lengths are -1 for NULL."""
    if pa.types.is_large_string(col.type):
        col = col.cast(pa.string())
    if col.offset:
        col = pa.concat_arrays([col])  # normalise a slice
    offsets = np.frombuffer(col.buffers()[1], dtype=np.int32, count=len(col) + 1)
    data_buf = col.buffers()[2]
    data = (
        np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else np.zeros(0, np.uint8)
    )
    lengths = np.diff(offsets).astype(np.int64)
    if col.null_count:
        lengths[col.is_null().to_numpy(zero_copy_only=False)] = -1
    return offsets[:-1].astype(np.int64), lengths, data


def encode(batch: pa.RecordBatch | pa.Table) -> bytes:
    """The binary COPY body (no header or trailer) of a batch's rows."""
    n = batch.num_rows
    if n == 0:
        return b""
    cols = [c.combine_chunks() if isinstance(c, pa.ChunkedArray) else c for c in batch.columns]
    kinds = [_kind(c.type) for c in cols]
    lengths, payload = [], []
    for col, kind in zip(cols, kinds, strict=True):
        if kind == "text":
            starts, lens, data = _text_parts(col)
            lengths.append(lens)
            payload.append((starts, data))
        else:
            size = np.dtype(_STORAGE.get(kind, kind)).itemsize
            lens = np.full(n, size, dtype=np.int64)
            if col.null_count:
                lens[col.is_null().to_numpy(zero_copy_only=False)] = -1
            lengths.append(lens)
            payload.append(_values(col, kind))
    # One integer per row shape: a mixed-radix number of each field's state (text: its length;
    # fixed width: null or not). Too many shapes for 63 bits: group the length rows instead.
    key = np.zeros(n, dtype=np.int64)
    radix = 1
    for lens, kind in zip(lengths, kinds, strict=True):
        state = lens + 1 if kind == "text" else (lens >= 0).astype(np.int64)
        span = int(state.max()) + 1
        if radix * span > 2**62:
            key = np.unique(np.stack(lengths, axis=1), axis=0, return_inverse=True)[1].ravel()
            break
        key += state * radix
        radix *= span
    if key.min() == key.max():
        groups = [slice(None)]  # one shape: every column is used as it is, without a gather
    else:
        order = np.argsort(key, kind="stable")
        bounds = np.flatnonzero(np.diff(key[order])) + 1
        groups = np.split(order, bounds)
    ncols = len(cols)
    out = []
    for rows in groups:
        first = 0 if isinstance(rows, slice) else rows[0]
        size = n if isinstance(rows, slice) else rows.size
        fields = [("n", ">i2")]
        shapes = []
        for c, lens in enumerate(lengths):
            length = int(lens[first])
            fields.append((f"l{c}", ">i4"))
            if length > 0:
                dtype = f"S{length}" if kinds[c] == "text" else _STORAGE.get(kinds[c], kinds[c])
                fields.append((f"v{c}", dtype))
            shapes.append(length)
        rec = np.empty(size, dtype=np.dtype(fields))
        rec["n"] = ncols
        for c, length in enumerate(shapes):
            rec[f"l{c}"] = length
            if length <= 0:
                continue
            if kinds[c] == "text":
                starts, data = payload[c]
                if isinstance(rows, slice):
                    # Every string of the column has this length: the data buffer is the values.
                    rec[f"v{c}"] = data[starts[0] : starts[0] + n * length].view(f"S{length}")
                    continue
                idx = starts[rows][:, None] + np.arange(length)
                rec[f"v{c}"] = data[idx].view(f"S{length}").ravel()
            else:
                rec[f"v{c}"] = payload[c][rows]
        out.append(rec.tobytes())
    return b"".join(out)
