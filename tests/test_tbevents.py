"""TensorBoard-compatible scalar events written without TensorBoard: round trip, CRCs, the record framing."""

from __future__ import annotations

import struct

import pytest

from s2w_eval.errors import DataError
from s2w_eval.features.tfckpt import crc32c, mask_crc
from s2w_models.tbevents import ScalarWriter, encode_scalar_event, read_scalars


def test_round_trip(tmp_path):
    w = ScalarWriter(tmp_path / "tb")
    values = [("train/loss", i, 6.0 - 0.25 * i) for i in range(5)] + [("epoch/val_loss", 4, 4.5)]
    for tag, step, v in values:
        w.add_scalar(tag, v, step)
    w.close()
    (path,) = (tmp_path / "tb").glob("events.out.tfevents.*")
    got = read_scalars(path)
    assert [(t, s) for t, s, _ in got] == [(t, s) for t, s, _ in values]
    assert [v for *_, v in got] == pytest.approx([v for *_, v in values], rel=1e-7)
    # the file starts with the version record TensorBoard checks
    data = path.read_bytes()
    (n,) = struct.unpack_from("<Q", data, 0)
    assert b"brain.Event:2" in data[12 : 12 + n]


def test_record_framing_and_field_encoding():
    ev = encode_scalar_event("a", 1.5, 300, 10.0)
    # wall_time (field 1, fixed64), step (field 2, varint 300 = ac 02), summary (field 5, length-delimited)
    assert ev[:9] == b"\x09" + struct.pack("<d", 10.0)
    assert ev[9:12] == b"\x10\xac\x02"
    assert ev[12] == 0x2A
    assert mask_crc(crc32c(b"123456789")) == mask_crc(0xE3069283)  # the CRC-32C check value


def test_corruption_is_detected(tmp_path):
    w = ScalarWriter(tmp_path)
    w.add_scalar("x", 1.0, 1)
    w.close()
    (path,) = tmp_path.glob("events.out.tfevents.*")
    data = bytearray(path.read_bytes())
    data[-6] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(DataError, match="CRC mismatch"):
        read_scalars(path)
    path.write_bytes(bytes(data[:-3]))
    with pytest.raises(DataError, match="torn"):
        read_scalars(path)
