"""Read TensorFlow V2 checkpoints ("tensor bundles") in pure Python: no TensorFlow, no protobuf.

A checkpoint `<prefix>` is two files:
- `<prefix>.index`: a LevelDB SSTable mapping tensor names to `BundleEntryProto` messages (dtype, shape, shard,
  offset, size, masked CRC32C of the tensor bytes); the empty key holds the `BundleHeaderProto`;
- `<prefix>.data-00000-of-00001`: the tensor bytes, concatenated.

Every SSTable block and every tensor read is checked against its stored CRC32C (Castagnoli); a fault raises a
`DataError` naming the file and what is wrong (bad magic, CRC mismatch, compressed block, truncated file, missing
tensor), never a silently wrong tensor.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DataError
from ..io.records import crc32c, mask_crc, unmask_crc  # noqa: F401 - re-exported

TABLE_MAGIC = 0xDB4775248B80FB57
FOOTER_SIZE = 48
BLOCK_TRAILER_SIZE = 5
_FIX = "reinstall the weights: pip install --force-reinstall dpam==0.0.4"

# TensorFlow DataType enum -> numpy dtype (the subset a checkpoint of float models holds).
_DTYPES = {
    1: np.dtype("<f4"),  # DT_FLOAT
    2: np.dtype("<f8"),  # DT_DOUBLE
    3: np.dtype("<i4"),  # DT_INT32
    4: np.dtype("u1"),  # DT_UINT8
    5: np.dtype("<i2"),  # DT_INT16
    6: np.dtype("i1"),  # DT_INT8
    9: np.dtype("<i8"),  # DT_INT64
    10: np.dtype("?"),  # DT_BOOL
    17: np.dtype("<u2"),  # DT_UINT16
    19: np.dtype("<f2"),  # DT_HALF
    22: np.dtype("<u4"),  # DT_UINT32
    23: np.dtype("<u8"),  # DT_UINT64
}


# ---------------------------------------------------------------------------------------------- varints, protobuf
def _varint(buf: bytes | memoryview, pos: int, path: Path) -> tuple[int, int]:
    result = 0
    shift = 0
    while True:
        if pos >= len(buf):
            raise DataError("corrupt checkpoint index: a varint runs past the end of its block", path, _FIX)
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise DataError("corrupt checkpoint index: a varint is longer than 10 bytes", path, _FIX)


def _proto_fields(buf: bytes, path: Path) -> Iterator[tuple[int, int, int | bytes]]:
    """Yield (field number, wire type, value) of a protobuf message: ints for varint/fixed, bytes for LEN."""
    pos = 0
    n = len(buf)
    while pos < n:
        key, pos = _varint(buf, pos, path)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos, path)
        elif wire == 1:
            if pos + 8 > n:
                raise DataError("corrupt checkpoint entry: truncated fixed64 field", path, _FIX)
            value = struct.unpack_from("<Q", buf, pos)[0]
            pos += 8
        elif wire == 5:
            if pos + 4 > n:
                raise DataError("corrupt checkpoint entry: truncated fixed32 field", path, _FIX)
            value = struct.unpack_from("<I", buf, pos)[0]
            pos += 4
        elif wire == 2:
            size, pos = _varint(buf, pos, path)
            if pos + size > n:
                raise DataError(
                    "corrupt checkpoint entry: a field runs past the end of its message", path, _FIX
                )
            value = bytes(buf[pos : pos + size])
            pos += size
        else:
            raise DataError(f"corrupt checkpoint entry: unsupported protobuf wire type {wire}", path, _FIX)
        yield field, wire, value


@dataclass(frozen=True)
class TensorEntry:
    """One tensor's BundleEntryProto."""

    name: str
    dtype: np.dtype
    shape: tuple[int, ...]
    shard_id: int
    offset: int
    size: int
    crc32c_masked: int | None


def _parse_shape(buf: bytes, path: Path) -> tuple[int, ...]:
    dims: list[int] = []
    for field, _wire, value in _proto_fields(buf, path):
        if field == 2:  # Dim
            size = 0
            for f2, _w2, v2 in _proto_fields(value, path):  # type: ignore[arg-type]
                if f2 == 1:
                    size = v2 if v2 < (1 << 63) else v2 - (1 << 64)  # int64 two's complement
            dims.append(int(size))
        elif field == 3 and value:  # unknown_rank
            raise DataError("checkpoint tensor of unknown rank", path, _FIX)
    return tuple(dims)


def _parse_entry(name: str, buf: bytes, path: Path) -> TensorEntry:
    dtype_code = 0
    shape: tuple[int, ...] = ()
    shard = offset = size = 0
    crc = None
    for field, _wire, value in _proto_fields(buf, path):
        if field == 1:
            dtype_code = int(value)  # type: ignore[arg-type]
        elif field == 2:
            shape = _parse_shape(value, path)  # type: ignore[arg-type]
        elif field == 3:
            shard = int(value)  # type: ignore[arg-type]
        elif field == 4:
            offset = int(value)  # type: ignore[arg-type]
        elif field == 5:
            size = int(value)  # type: ignore[arg-type]
        elif field == 6:
            crc = int(value)  # type: ignore[arg-type]
        elif field == 7:
            raise DataError(f"tensor {name!r} is split into slices, which this reader does not support", path)
    if dtype_code not in _DTYPES:
        raise DataError(f"tensor {name!r} has an unsupported dtype (TensorFlow DataType {dtype_code})", path)
    return TensorEntry(name, _DTYPES[dtype_code], shape, shard, offset, size, crc)


# ---------------------------------------------------------------------------------------------- SSTable
def _read_block(data: bytes, offset: int, size: int, path: Path, what: str) -> bytes:
    end = offset + size + BLOCK_TRAILER_SIZE
    if offset < 0 or end > len(data):
        raise DataError(
            f"truncated checkpoint index: the {what} block [{offset}, {end}) lies past the end of the "
            f"{len(data)}-byte file",
            path,
            _FIX,
        )
    block = data[offset : offset + size]
    kind = data[offset + size]
    stored = struct.unpack_from("<I", data, offset + size + 1)[0]
    actual = mask_crc(crc32c(data[offset : offset + size + 1]))
    if stored != actual:
        raise DataError(
            f"CRC mismatch in the checkpoint index's {what} block at byte {offset} (stored {stored:#010x}, "
            f"computed {actual:#010x}): the file is corrupt",
            path,
            _FIX,
        )
    if kind != 0:
        name = {1: "snappy", 2: "zstd"}.get(kind, f"type {kind}")
        raise DataError(
            f"compressed checkpoint index block ({name}) in the {what} block: not supported", path
        )
    return block


def _block_entries(block: bytes, path: Path, what: str) -> Iterator[tuple[bytes, bytes]]:
    if len(block) < 4:
        raise DataError(f"corrupt checkpoint index: the {what} block is too short", path, _FIX)
    n_restarts = struct.unpack_from("<I", block, len(block) - 4)[0]
    limit = len(block) - 4 - 4 * n_restarts
    if limit < 0:
        raise DataError(f"corrupt checkpoint index: bad restart count in the {what} block", path, _FIX)
    pos = 0
    key = b""
    mv = memoryview(block)
    while pos < limit:
        shared, pos = _varint(mv, pos, path)
        non_shared, pos = _varint(mv, pos, path)
        value_len, pos = _varint(mv, pos, path)
        if shared > len(key) or pos + non_shared + value_len > limit:
            raise DataError(f"corrupt checkpoint index: a bad entry in the {what} block", path, _FIX)
        key = key[:shared] + bytes(mv[pos : pos + non_shared])
        pos += non_shared
        value = bytes(mv[pos : pos + value_len])
        pos += value_len
        yield key, value


def _handle(buf: bytes, pos: int, path: Path) -> tuple[int, int, int]:
    offset, pos = _varint(buf, pos, path)
    size, pos = _varint(buf, pos, path)
    return offset, size, pos


# ---------------------------------------------------------------------------------------------- the reader
class CheckpointReader:
    """Tensors of a TensorFlow V2 checkpoint, by name.

    >>> reader = CheckpointReader("pre-model/scratch_loss/my_test_model")
    >>> reader.shapes()["loss_conv_0/weights"]
    (1, 3, 1, 32)
    >>> w = reader.get("loss_conv_0/weights")   # numpy array, CRC-checked
    """

    def __init__(self, prefix: str | Path):
        prefix = str(prefix)
        for suffix in (".index", ".data-00000-of-00001"):
            if prefix.endswith(suffix):
                prefix = prefix[: -len(suffix)]
        self.prefix = Path(prefix)
        self.index_path = Path(prefix + ".index")
        if not self.index_path.is_file():
            raise DataError("checkpoint index not found", self.index_path, _FIX)
        self.entries: dict[str, TensorEntry] = {}
        self.num_shards = 1
        self._read_index()
        self._data: dict[int, bytes] = {}

    def _read_index(self) -> None:
        path = self.index_path
        data = path.read_bytes()
        if len(data) < FOOTER_SIZE:
            raise DataError(
                f"truncated checkpoint index: {len(data)} bytes, shorter than the {FOOTER_SIZE}-byte footer",
                path,
                _FIX,
            )
        footer = data[-FOOTER_SIZE:]
        magic = struct.unpack_from("<Q", footer, 40)[0]
        if magic != TABLE_MAGIC:
            raise DataError(
                f"bad magic number {magic:#018x} in the checkpoint index footer (expected {TABLE_MAGIC:#018x}): "
                "not a TensorFlow V2 checkpoint index, or a truncated one",
                path,
                _FIX,
            )
        _meta_off, _meta_size, pos = _handle(footer, 0, path)
        index_off, index_size, _ = _handle(footer, pos, path)
        index_block = _read_block(data, index_off, index_size, path, "index")
        header_seen = False
        for _last_key, handle in _block_entries(index_block, path, "index"):
            off, size, _ = _handle(handle, 0, path)
            block = _read_block(data, off, size, path, "data")
            for key, value in _block_entries(block, path, "data"):
                if key == b"":
                    header_seen = True
                    self._parse_header(value)
                    continue
                name = key.decode("utf-8", errors="replace")
                self.entries[name] = _parse_entry(name, value, path)
        if not header_seen:
            raise DataError("checkpoint index holds no bundle header", path, _FIX)

    def _parse_header(self, value: bytes) -> None:
        for field, _wire, v in _proto_fields(value, self.index_path):
            if field == 1:
                self.num_shards = int(v)  # type: ignore[arg-type]
            elif field == 2 and int(v) != 0:  # type: ignore[arg-type]
                raise DataError("big-endian checkpoint: not supported", self.index_path)

    # -- public API ----------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.entries)

    def __contains__(self, name: str) -> bool:
        return name in self.entries

    def names(self) -> list[str]:
        return sorted(self.entries)

    def shapes(self) -> dict[str, tuple[int, ...]]:
        return {name: e.shape for name, e in sorted(self.entries.items())}

    def data_path(self, shard: int = 0) -> Path:
        return Path(f"{self.prefix}.data-{shard:05d}-of-{self.num_shards:05d}")

    def _shard_bytes(self, shard: int) -> bytes:
        if shard not in self._data:
            path = self.data_path(shard)
            if not path.is_file():
                raise DataError("checkpoint data file not found", path, _FIX)
            self._data[shard] = path.read_bytes()
        return self._data[shard]

    def get(self, name: str, verify: bool = True) -> np.ndarray:
        """The tensor `name` as a numpy array (a copy), its bytes checked against the stored CRC32C."""
        entry = self.entries.get(name)
        if entry is None:
            from difflib import get_close_matches

            close = get_close_matches(name, list(self.entries), n=3)
            hint = f"; close names: {', '.join(close)}" if close else ""
            raise DataError(f"missing tensor {name!r} in the checkpoint{hint}", self.index_path, _FIX)
        data = self._shard_bytes(entry.shard_id)
        path = self.data_path(entry.shard_id)
        end = entry.offset + entry.size
        if end > len(data):
            raise DataError(
                f"truncated checkpoint data: tensor {name!r} needs bytes [{entry.offset}, {end}), the file has "
                f"{len(data)}",
                path,
                _FIX,
            )
        raw = data[entry.offset : end]
        if verify and entry.crc32c_masked is not None:
            actual = mask_crc(crc32c(raw))
            if actual != entry.crc32c_masked:
                raise DataError(
                    f"CRC mismatch in tensor {name!r} (bytes {entry.offset}-{end}; stored "
                    f"{entry.crc32c_masked:#010x}, computed {actual:#010x}): the file is corrupt",
                    path,
                    _FIX,
                )
        count = int(np.prod(entry.shape)) if entry.shape else 1
        if count * entry.dtype.itemsize != entry.size:
            raise DataError(
                f"tensor {name!r}: {entry.size} bytes do not hold shape {entry.shape} of {entry.dtype}",
                self.index_path,
                _FIX,
            )
        return np.frombuffer(raw, dtype=entry.dtype).reshape(entry.shape).copy()

    def verify_all(self) -> int:
        """Check every tensor's CRC32C; return how many were checked. Raises DataError on the first fault."""
        for name in self.entries:
            self.get(name, verify=True)
        return len(self.entries)
