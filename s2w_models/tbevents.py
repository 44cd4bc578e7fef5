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


SUFFIX = ".s2w"  # the events files this module writes (others in the folder are never touched)


class ScalarWriter:
    """Append scalars to an events file in `folder`.

    `resume_step=None` starts the log over (earlier s2w events files in `folder` are removed, as a fresh
    run's steps.csv is). `resume_step=S` continues a run resumed from its step-S checkpoint: every point
    after step S (written after that checkpoint by the run that was killed) is dropped from the existing
    files, and the writer appends to the newest one, so the log holds each point once, exactly as an
    uninterrupted run's.
    """

    def __init__(self, folder: str | Path, resume_step: int | None = None):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        existing = sorted(self.folder.glob(f"events.out.tfevents.*{SUFFIX}"))
        if resume_step is not None and existing:
            for path in existing:
                truncate_events(path, resume_step)
            self.path = existing[-1]
            self._fh = open(self.path, "ab")  # noqa: SIM115 - closed in close()
            return
        for path in existing:
            path.unlink(missing_ok=True)
        now = time.time()
        self.path = (
            self.folder / f"events.out.tfevents.{int(now)}.{socket.gethostname()}.{os.getpid()}{SUFFIX}"
        )
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


def _raw_records(data: bytes) -> list[tuple[bytes, int | None]]:
    """(whole record bytes, step or None for a record without a summary); a torn or corrupt tail ends it."""
    pos, out = 0, []
    while pos + 12 <= len(data):
        (length,) = struct.unpack_from("<Q", data, pos)
        if mask_crc(crc32c(data[pos : pos + 8])) != struct.unpack_from("<I", data, pos + 8)[0]:
            break
        start, end = pos + 12, pos + 12 + length
        if end + 4 > len(data) or mask_crc(crc32c(data[start:end])) != struct.unpack_from("<I", data, end)[0]:
            break  # a kill mid-write leaves a torn last record
        step, has_summary = 0, False
        for field, value in _fields(data[start:end]):
            if field == 2:
                step = value
            elif field == 5:
                has_summary = True
        out.append((data[pos : end + 4], step if has_summary else None))
        pos = end + 4
    return out


def truncate_events(path: str | Path, max_step: int) -> None:
    """Rewrite an events file without the scalars after `max_step` (and without a torn tail), atomically."""
    from s2w_eval.results import atomic_write_bytes

    data = Path(path).read_bytes()
    kept = b"".join(rec for rec, step in _raw_records(data) if step is None or step <= max_step)
    if kept != data:
        atomic_write_bytes(path, kept)
