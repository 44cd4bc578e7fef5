"""Embeddings for distribution distances: DPAM/CDPAM from the packaged networks, and the standard backends'
loading code on tiny randomly initialised networks of the same architecture written here."""

from __future__ import annotations

import json

import numpy as np
import pytest

from s2w_eval.errors import DataError, UsageError
from s2w_eval.features import embeddings as E
from s2w_eval.features import standard_embeddings as S
from s2w_eval.features.cache import EmbeddingCache
from tests.conftest import tone


def _clip(sr, seconds=1.0, freq=330.0, seed=0):
    return tone(freq, seconds, sr, seed=seed)


def test_dpam_embedding_is_the_layers_time_means():
    import torch

    emb = E.build_embedding("dpam")
    x = _clip(emb.sample_rate, 1.0)
    v = emb.embed(x)
    assert v.shape == (992,) and v.dtype == np.float32 and np.all(np.isfinite(v))
    # independent: the network's own per-layer feature maps, averaged over time
    t = torch.from_numpy(np.round(x.astype(np.float64) * 32768).astype(np.float32)).view(1, -1)
    with torch.inference_mode():
        maps = emb.metric.net.features(t)
    np.testing.assert_allclose(v[:32], maps[0][0].mean(dim=1).numpy(), rtol=1e-6)
    np.testing.assert_allclose(v[-128:], maps[-1][0].mean(dim=1).numpy(), rtol=1e-6)
    assert np.array_equal(emb.embed(x), v)  # deterministic
    # different music, different embedding; the same music a little quieter, nearly the same one
    other = emb.embed(_clip(emb.sample_rate, 1.0, freq=523.0, seed=3))
    quieter = emb.embed(0.5 * x)
    assert np.linalg.norm(quieter - v) < np.linalg.norm(other - v)
    d = emb.describe()
    assert d["weights_sha256"] == emb.weights_sha256 and d["dims"] == 992


def test_cdpam_embedding_is_the_encoders_1024_channels(cdpam_metric):
    import torch

    emb = E.CDPAMEmbedding.__new__(E.CDPAMEmbedding)  # reuse the session's network (CDPAM is slow to load)
    emb.metric, emb.sample_rate, emb.weights_sha256 = cdpam_metric, 22050, cdpam_metric.weights_sha256
    x = _clip(22050, 0.5)
    v = emb.embed(x)
    assert v.shape == (1024,)
    # its first half is CDPAM's acoustic embedding before normalisation
    (acoustic,) = cdpam_metric.embed([np.round(x.astype(np.float64) * 32768).astype(np.float32)])
    a = torch.nn.functional.normalize(torch.from_numpy(v[:512]), dim=0).numpy()
    np.testing.assert_allclose(a, acoustic, atol=1e-5)


def test_cache_serves_a_stored_embedding(tmp_path):
    class Counting(E.Embedding):
        name, sample_rate, weights_sha256 = "counting", 8000, "a" * 64

        def __init__(self):
            self.calls = 0

        def embed(self, x):
            self.calls += 1
            return np.array([x.mean(), x.std()], np.float32)

    emb, cache = Counting(), EmbeddingCache(tmp_path)
    x = _clip(8000, 0.2)
    a = E.embed_cached(emb, x, E.array_digest(x), cache)
    b = E.embed_cached(emb, x, E.array_digest(x), cache)
    assert emb.calls == 1 and np.array_equal(a, b)
    assert E.array_digest(x) != E.array_digest(x * 0.5)


def test_standard_embeddings_never_download():
    for name in ("vggish", "panns-cnn14", "clap", "encodec", "mert"):
        with pytest.raises(UsageError, match="never downloads"):
            E.build_embedding(name)
    with pytest.raises(UsageError, match="unknown embedding"):
        E.build_embedding("openl3")
    with pytest.raises(UsageError, match="inside its package"):
        E.build_embedding("dpam", weights="x.pth")


# --- the published parameter layouts, on narrow random networks ------------------------------------------------

VGGISH_KEYS = [
    *(f"features.{i}.{p}" for i in (0, 3, 6, 8, 11, 13) for p in ("weight", "bias")),
    *(f"embeddings.{i}.{p}" for i in (0, 2, 4) for p in ("weight", "bias")),
]


def test_vggish_loads_a_state_dict_in_torchvggish_layout(tmp_path):
    import torch

    torch.manual_seed(0)
    net = S.vggish_network(width=1 / 16)
    assert sorted(net.state_dict()) == sorted(VGGISH_KEYS)
    path = tmp_path / "vggish.pth"
    torch.save(net.state_dict(), path)
    emb = E.build_embedding("vggish", weights=path)
    x = _clip(16000, 2.5)
    v = emb.embed(x)
    assert v.shape == (128,)
    # independent: the test's own network on the same examples, averaged
    with torch.inference_mode():
        ref = net.eval()(torch.from_numpy(emb.examples(x)).unsqueeze(1)).mean(dim=0).numpy()
    np.testing.assert_allclose(v, ref, rtol=1e-5, atol=1e-6)
    assert emb.examples(x).shape == (2, 96, 64)  # 2.5 s -> two whole 0.96 s examples
    from s2w_eval.results import sha256_file

    assert emb.describe()["weights_sha256"] == sha256_file(path)
    # a file of another network is refused, naming what is wrong
    torch.save({"conv.weight": torch.zeros(3)}, tmp_path / "other.pth")
    with pytest.raises(DataError, match="features.0.weight"):
        E.build_embedding("vggish", weights=tmp_path / "other.pth")
    with pytest.raises(DataError, match="not found"):
        E.build_embedding("vggish", weights=tmp_path / "missing.pth")


def test_cnn14_loads_the_published_checkpoint_layout(tmp_path):
    import torch

    torch.manual_seed(1)
    net = S.cnn14_network(classes=527, width=1 / 32)
    keys = set(net.state_dict())
    assert {"bn0.weight", "conv_block1.conv1.weight", "conv_block6.bn2.running_var", "fc1.weight"} <= keys
    assert {"fc_audioset.weight", "fc_audioset.bias"} <= keys
    state = dict(net.state_dict())
    # the published file also carries torchlibrosa's front-end matrices, wrapped in {"model": ...}
    state["spectrogram_extractor.stft.conv_real.weight"] = torch.zeros(513, 1, 1024)
    state["logmel_extractor.melW"] = torch.zeros(513, 64)
    path = tmp_path / "Cnn14_tiny.pth"
    torch.save({"model": state, "iteration": 0}, path)
    emb = E.build_embedding("panns-cnn14", weights=path)
    x = _clip(32000, 1.0)
    v = emb.embed(x)
    assert v.shape == (64,)  # 2048 x 1/32
    with torch.inference_mode():
        mel = torch.from_numpy(S.CNN14Embedding.log_mel(x)).view(1, 1, -1, 64)
        ref = net.eval()(mel)[0].numpy()
    np.testing.assert_allclose(v, ref, rtol=1e-5, atol=1e-6)
    assert S.CNN14Embedding.log_mel(x).shape == (101, 64)  # 1 s at hop 320, centred


def _save_hf(model, folder, patch=None):
    model.save_pretrained(str(folder))
    if patch:
        cfg = json.loads((folder / "config.json").read_text())
        cfg.update(patch)
        (folder / "config.json").write_text(json.dumps(cfg))
    return folder


def test_clap_loads_a_hugging_face_folder(tmp_path):
    tr = pytest.importorskip(
        "transformers", reason="the clap embedding needs transformers (extra embeddings)"
    )
    import torch

    torch.manual_seed(2)
    audio = dict(
        hidden_size=32,
        depths=[1, 1],
        num_attention_heads=[1, 1],
        window_size=8,
        patch_embeds_hidden_size=16,
        spec_size=256,
        num_mel_bins=64,
        enable_fusion=False,
        patch_stride=[4, 4],
        patch_size=4,
        projection_hidden_size=16,
        mlp_ratio=1.0,
    )
    text = dict(
        vocab_size=50,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=1,
        intermediate_size=16,
        max_position_embeddings=40,
        projection_hidden_size=16,
    )
    cfg = tr.ClapConfig(audio_config=audio, text_config=text, projection_dim=8)
    model = tr.ClapModel(cfg).eval()
    folder = _save_hf(model, tmp_path / "clap")
    emb = E.build_embedding("clap", weights=folder)
    x = _clip(48000, 1.0)
    v = emb.embed(x)
    assert v.shape == (8,)
    assert np.linalg.norm(v) == pytest.approx(1.0, rel=1e-5)
    fe = tr.ClapFeatureExtractor()
    with torch.inference_mode():
        out = model.get_audio_features(
            **{
                k: v
                for k, v in fe(
                    x, sampling_rate=48000, return_tensors="pt", truncation="rand_trunc", padding="repeatpad"
                ).items()
                if k in ("input_features", "is_longer")
            }
        )
    out = out if isinstance(out, torch.Tensor) else out.pooler_output
    np.testing.assert_allclose(v, out[0].numpy(), rtol=1e-4, atol=1e-5)


def test_encodec_loads_a_hugging_face_folder(tmp_path):
    tr = pytest.importorskip(
        "transformers", reason="the encodec embedding needs transformers (extra embeddings)"
    )
    import torch

    torch.manual_seed(3)
    cfg = tr.EncodecConfig(
        hidden_size=8,
        num_filters=4,
        num_residual_layers=1,
        upsampling_ratios=[4, 2],
        codebook_size=16,
        codebook_dim=8,
        num_lstm_layers=1,
        sampling_rate=8000,
    )
    model = tr.EncodecModel(cfg).eval()
    emb = E.build_embedding("encodec", weights=_save_hf(model, tmp_path / "encodec"))
    assert emb.sample_rate == 8000
    x = _clip(8000, 0.5)
    v = emb.embed(x)
    assert v.shape == (8,)
    with torch.inference_mode():
        ref = model.encoder(torch.from_numpy(x).view(1, 1, -1))[0].mean(dim=-1).numpy()
    np.testing.assert_allclose(v, ref, rtol=1e-5, atol=1e-6)


def test_mert_loads_a_hubert_shaped_folder(tmp_path):
    tr = pytest.importorskip(
        "transformers", reason="the mert embedding needs transformers (extra embeddings)"
    )
    import torch

    torch.manual_seed(4)
    cfg = tr.HubertConfig(
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=16,
        conv_dim=(8, 8),
        conv_stride=(5, 2),
        conv_kernel=(10, 3),
        num_conv_pos_embeddings=4,
        num_conv_pos_embedding_groups=2,
    )
    model = tr.HubertModel(cfg).eval()
    # MERT's config names its own model type and remote code
    folder = _save_hf(
        model, tmp_path / "mert", {"model_type": "mert_model", "auto_map": {}, "sample_rate": 24000}
    )
    emb = E.build_embedding("mert", weights=folder)
    x = _clip(24000, 0.5)
    v = emb.embed(x)
    assert v.shape == (16,)
    z = (x - x.mean()) / np.sqrt(x.var() + 1e-7)
    with torch.inference_mode():
        ref = (
            model(torch.from_numpy(z.astype(np.float32)).view(1, -1)).last_hidden_state[0].mean(dim=0).numpy()
        )
    np.testing.assert_allclose(v, ref, rtol=1e-4, atol=1e-5)
    cfg_path = folder / "config.json"
    cfg_path.write_text(json.dumps({**json.loads(cfg_path.read_text()), "feature_extractor_cqt": True}))
    with pytest.raises(DataError, match="CQT"):
        E.build_embedding("mert", weights=folder)
