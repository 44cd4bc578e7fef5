"""CRC-32C and its masked form: the checksums of TFRecord-framed files (TensorFlow checkpoints' tables, and
TensorBoard event files). Shared by the DPAM weight reader (features.tfckpt) and s2w_models' TensorBoard
writer. Hand-written because the one library that has it with a C speed-up (crc32c) is not a dependency we
otherwise need; slicing-by-4 keeps it fast enough for checkpoints of a few MB.
"""

from __future__ import annotations

import struct

_MASK_DELTA = 0xA282EAD8


def _make_table() -> list[int]:
    poly = 0x82F63B78  # Castagnoli, reflected
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ poly if c & 1 else c >> 1
        table.append(c)
    return table


_TABLE = _make_table()
# slicing-by-4 tables: _T4[k][b] = CRC of byte b followed by k zero bytes
_T4 = [_TABLE]
for _k in range(1, 4):
    _prev = _T4[-1]
    _T4.append([(_prev[b] >> 8) ^ _TABLE[_prev[b] & 0xFF] for b in range(256)])
del _k, _prev


def crc32c(data: bytes | bytearray | memoryview, crc: int = 0) -> int:
    """CRC-32C (Castagnoli) of `data`, continuing from `crc` (0 for a fresh checksum)."""
    t0, t1, t2, t3 = _T4[0], _T4[1], _T4[2], _T4[3]
    mv = memoryview(data).cast("B")
    n = len(mv)
    crc = (~crc) & 0xFFFFFFFF
    head = n - n % 4
    if head:
        for (w,) in struct.iter_unpack("<I", mv[:head]):
            x = crc ^ w
            crc = t3[x & 0xFF] ^ t2[(x >> 8) & 0xFF] ^ t1[(x >> 16) & 0xFF] ^ t0[x >> 24]
    for b in mv[head:]:
        crc = t0[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return (~crc) & 0xFFFFFFFF


def mask_crc(crc: int) -> int:
    """LevelDB / TensorFlow masked CRC: rotate right by 15 bits and add a constant."""
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + _MASK_DELTA) & 0xFFFFFFFF


def unmask_crc(masked: int) -> int:
    rot = (masked - _MASK_DELTA) & 0xFFFFFFFF
    return ((rot >> 17) | (rot << 15)) & 0xFFFFFFFF
