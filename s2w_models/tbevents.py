"""TensorBoard-compatible scalar logs without TensorBoard (or TensorFlow, or protobuf) installed.

TensorBoard reads `events.out.tfevents.*` files: TFRecords (u64 length, masked CRC32C of the length, the
record, masked CRC32C of the record) each holding an `Event` protobuf. A scalar is
`Event{wall_time: 1 double, step: 2 int64, summary: 5 Summary{value: 1 Value{tag: 1 string, simple_value: 2 float}}}`,
and the first record is `Event{wall_time, file_version: 3 "brain.Event:2"}`. That is all this module writes;
`read_scalars` reads such files back (checking every CRC) for tests and for scripts.

Why not torch.utils.tensorboard: its SummaryWriter needs the `tensorboard` package (and protobuf), which would
become a dependency of every training run for the sake of a few scalars; this writer has none, and the files it
writes are read by TensorBoard's own EventAccumulator in the tests.
"""

from __future__ import annotations

import os
import socket
import struct
import time
from pathlib import Path

from s2w_eval.errors import DataError
from s2w_eval.io.records import crc32c, mask_crc


def _varint(n: int) -> bytes:
    if n < 0:
        n &= (1 << 64) - 1  # int64 two's complement, as protobuf encodes negative int64
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _key(field: int, wire: int) -> bytes:
    return _varint((field << 3) | wire)


def _len_delimited(field: int, payload: bytes) -> bytes:
    return _key(field, 2) + _varint(len(payload)) + payload


def encode_scalar_event(tag: str, value: float, step: int, wall_time: float) -> bytes:
    val = _len_delimited(1, tag.encode("utf-8")) + _key(2, 5) + struct.pack("<f", float(value))
    summary = _len_delimited(1, val)
    return (
        _key(1, 1)
        + struct.pack("<d", wall_time)
        + _key(2, 0)
        + _varint(int(step))
        + _len_delimited(5, summary)
    )


def _record(data: bytes) -> bytes:
    length = struct.pack("<Q", len(data))
    return (
        length
        + struct.pack("<I", mask_crc(crc32c(length)))
        + data
        + struct.pack("<I", mask_crc(crc32c(data)))
    )


class ScalarWriter:
    """Append scalars to a new events file in `folder` (one file per writer, as TensorBoard expects)."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        now = time.time()
        self.path = self.folder / f"events.out.tfevents.{int(now)}.{socket.gethostname()}.{os.getpid()}.s2w"
        self._fh = open(self.path, "ab")  # noqa: SIM115 - closed in close()
        header = _key(1, 1) + struct.pack("<d", now) + _len_delimited(3, b"brain.Event:2")
        self._fh.write(_record(header))
        self._fh.flush()

    def add_scalar(self, tag: str, value: float, step: int) -> None:
        self._fh.write(_record(encode_scalar_event(tag, value, step, time.time())))
        self._fh.flush()

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.close()


def _read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


def _fields(buf: bytes):
    pos = 0
    while pos < len(buf):
        key, pos = _read_varint(buf, pos)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _read_varint(buf, pos)
        elif wire == 1:
            value, pos = buf[pos : pos + 8], pos + 8
        elif wire == 5:
            value, pos = buf[pos : pos + 4], pos + 4
        elif wire == 2:
            n, pos = _read_varint(buf, pos)
            value, pos = buf[pos : pos + n], pos + n
        else:
            raise ValueError(f"unsupported wire type {wire}")
        yield field, value


def read_scalars(path: str | Path) -> list[tuple[str, int, float]]:
    """(tag, step, value) of every scalar in an events file; a bad CRC or a torn record is a DataError."""
    data = Path(path).read_bytes()
    pos, out = 0, []
    while pos < len(data):
        if pos + 12 > len(data):
            raise DataError(f"torn record header at byte {pos}", path)
        (length,) = struct.unpack_from("<Q", data, pos)
        (len_crc,) = struct.unpack_from("<I", data, pos + 8)
        if mask_crc(crc32c(data[pos : pos + 8])) != len_crc:
            raise DataError(f"length CRC mismatch at byte {pos}", path)
        start, end = pos + 12, pos + 12 + length
        if end + 4 > len(data):
            raise DataError(f"torn record at byte {pos}", path)
        record = data[start:end]
        if mask_crc(crc32c(record)) != struct.unpack_from("<I", data, end)[0]:
            raise DataError(f"record CRC mismatch at byte {pos}", path)
        pos = end + 4
        step, summary = 0, None
        for field, value in _fields(record):
            if field == 2:
                step = value
            elif field == 5:
                summary = value
        if summary is None:
            continue
        for field, value in _fields(summary):
            if field != 1:
                continue
            tag, scalar = "", None
            for f, v in _fields(value):
                if f == 1:
                    tag = v.decode("utf-8")
                elif f == 2:
                    scalar = struct.unpack("<f", v)[0]
            if scalar is not None:
                out.append((tag, step, scalar))
    return out
