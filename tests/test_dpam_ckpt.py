"""The pure-Python TensorFlow V2 checkpoint reader: CRC32C, the real DPAM checkpoints, corrupt copies."""

from __future__ import annotations

import os
import shutil
import struct

import numpy as np
import pytest

from s2w_eval.errors import DataError
from s2w_eval.features import tfckpt
from s2w_eval.features.tfckpt import CheckpointReader, crc32c, mask_crc, unmask_crc

DATA_SUFFIX = ".data-00000-of-00001"


@pytest.fixture(scope="module")
def dpam_prefix():
    """The installed dpam package's checkpoint prefix by name; skip when `dpam` is not installed."""
    from s2w_eval.features.dpam import checkpoint_prefix

    try:
        checkpoint_prefix("scratch")
    except DataError as exc:
        pytest.skip(f"DPAM weights not available: {exc}")
    return lambda name: str(checkpoint_prefix(name))


def _crc32c_bitwise(data: bytes) -> int:
    """An independent, bit-at-a-time CRC-32C (Castagnoli) to check the table-driven one against."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 & -(crc & 1))
    return crc ^ 0xFFFFFFFF


def test_crc32c_standard_vectors():
    # RFC 3720 (iSCSI) appendix B.4 test vectors, and the common "123456789" check value
    assert crc32c(b"123456789") == 0xE3069283
    assert crc32c(bytes(32)) == 0x8A9136AA
    assert crc32c(b"\xff" * 32) == 0x62A8AB43
    assert crc32c(bytes(range(32))) == 0x46DD794E
    assert crc32c(bytes(range(31, -1, -1))) == 0x113FDB5C
    assert crc32c(b"") == 0


def test_crc32c_matches_bitwise_on_every_alignment():
    rng = np.random.default_rng(0)
    for n in (1, 2, 3, 4, 5, 7, 8, 63, 257):
        data = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
        assert crc32c(data) == _crc32c_bitwise(data)
        # continuing a checksum over a split gives the checksum of the whole
        k = n // 3
        assert crc32c(data[k:], crc32c(data[:k])) == crc32c(data)


def test_mask_roundtrip():
    for c in (0, 1, 0xE3069283, 0xFFFFFFFF, 0x12345678):
        assert unmask_crc(mask_crc(c)) == c
    assert mask_crc(0) == 0xA282EAD8


def test_real_checkpoints_every_crc_verifies(dpam_prefix):
    expected_counts = {"scratch": 174, "finetune": 174, "linear": 118}
    for checkpoint, count in expected_counts.items():
        reader = CheckpointReader(dpam_prefix(checkpoint))
        assert len(reader) == count
        assert reader.verify_all() == count


def test_real_checkpoint_names_and_shapes(dpam_prefix):
    reader = CheckpointReader(dpam_prefix("scratch"))
    shapes = reader.shapes()
    for i in range(14):
        c_out = 32 * 2 ** (i // 5)
        c_in = 1 if i == 0 else 32 * 2 ** ((i - 1) // 5)
        assert shapes[f"loss_conv_{i}/weights"] == (1, 3, c_in, c_out)
        assert shapes[f"loss_conv_{i}/BatchNorm/beta"] == (c_out,)
        assert shapes[f"weights_{i}"] == (c_out,)
        # batch-norm moving statistics were never trained: DPAM must use per-clip statistics
        assert np.all(reader.get(f"loss_conv_{i}/BatchNorm/moving_mean") == 0)
        assert np.all(reader.get(f"loss_conv_{i}/BatchNorm/moving_variance") == 1)
    assert shapes["beta1_power"] == ()
    assert shapes["dense_2/kernel"] == (6, 2)
    w = reader.get("loss_conv_0/weights")
    assert w.dtype == np.float32 and np.all(np.isfinite(w)) and np.any(w != 0)


def _copy(prefix, tmp_path):
    dst = tmp_path / "model"
    for suffix in (".index", DATA_SUFFIX):
        shutil.copyfile(f"{prefix}{suffix}", f"{dst}{suffix}")
    return dst


def _flip(path, offset):
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x40
    path.write_bytes(bytes(data))


def test_flipped_byte_in_tensor_data_is_a_crc_error(dpam_prefix, tmp_path):
    from s2w_eval.features.dpam import read_weights

    dst = _copy(dpam_prefix("scratch"), tmp_path)
    entry = CheckpointReader(dst).entries["loss_conv_3/weights"]
    data_path = tmp_path / f"model{DATA_SUFFIX}"
    _flip(data_path, entry.offset + entry.size // 2)
    with pytest.raises(DataError, match="CRC mismatch in tensor 'loss_conv_3/weights'") as err:
        read_weights(dst)
    assert err.value.path == str(data_path)
    # unchecked, the same read would give a silently different tensor
    reader = CheckpointReader(dst)
    assert not np.array_equal(
        reader.get("loss_conv_3/weights", verify=False),
        CheckpointReader(dpam_prefix("scratch")).get("loss_conv_3/weights"),
    )


def test_flipped_byte_in_index_is_a_crc_error(dpam_prefix, tmp_path):
    dst = _copy(dpam_prefix("scratch"), tmp_path)
    index = tmp_path / "model.index"
    _flip(index, 100)  # inside the data block of tensor entries
    with pytest.raises(DataError, match="CRC mismatch in the checkpoint index") as err:
        CheckpointReader(dst)
    assert err.value.path == str(index)


def test_truncated_files(dpam_prefix, tmp_path):
    dst = _copy(dpam_prefix("scratch"), tmp_path)
    index = tmp_path / "model.index"
    full = index.read_bytes()
    index.write_bytes(full[: len(full) - 30])
    with pytest.raises(DataError, match="bad magic|truncated"):
        CheckpointReader(dst)
    index.write_bytes(full[:20])
    with pytest.raises(DataError, match="truncated checkpoint index"):
        CheckpointReader(dst)

    index.write_bytes(full)
    data_path = tmp_path / f"model{DATA_SUFFIX}"
    size = os.path.getsize(data_path)
    with open(data_path, "r+b") as fh:
        fh.truncate(size // 2)
    reader = CheckpointReader(dst)
    with pytest.raises(DataError, match="truncated checkpoint data") as err:
        reader.verify_all()
    assert err.value.path == str(data_path)


def test_bad_magic(dpam_prefix, tmp_path):
    dst = _copy(dpam_prefix("scratch"), tmp_path)
    index = tmp_path / "model.index"
    data = bytearray(index.read_bytes())
    data[-8:] = b"NOTMAGIC"
    index.write_bytes(bytes(data))
    with pytest.raises(DataError, match="bad magic number") as err:
        CheckpointReader(dst)
    assert err.value.path == str(index)


def test_compressed_block_is_refused(dpam_prefix, tmp_path):
    dst = _copy(dpam_prefix("scratch"), tmp_path)
    index = tmp_path / "model.index"
    data = bytearray(index.read_bytes())
    footer = bytes(data[-tfckpt.FOOTER_SIZE :])
    _meta_off, _meta_size, pos = tfckpt._handle(footer, 0, index)
    off, size, _ = tfckpt._handle(footer, pos, index)
    # mark the index block snappy-compressed, with a CRC that matches, so only the compression check can object
    data[off + size] = 1
    struct.pack_into("<I", data, off + size + 1, mask_crc(crc32c(bytes(data[off : off + size + 1]))))
    index.write_bytes(bytes(data))
    with pytest.raises(DataError, match="compressed checkpoint index block \\(snappy\\)"):
        CheckpointReader(dst)


def test_missing_tensor_and_missing_files(dpam_prefix, tmp_path):
    reader = CheckpointReader(dpam_prefix("scratch"))
    with pytest.raises(DataError, match="missing tensor 'loss_conv_14/weights'.*close names"):
        reader.get("loss_conv_14/weights")
    with pytest.raises(DataError, match="checkpoint index not found"):
        CheckpointReader(tmp_path / "nothing")
    shutil.copyfile(f"{dpam_prefix('scratch')}.index", tmp_path / "lonely.index")
    with pytest.raises(DataError, match="checkpoint data file not found"):
        CheckpointReader(tmp_path / "lonely").get("weights_0")
