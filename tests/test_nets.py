"""Networks: parameter counts, shapes for 3 s and 10 s clips, options, quantisation, incremental-step API."""

from __future__ import annotations

import pytest
import torch

from s2w_eval.errors import DataError, UsageError
from s2w_models.checkpoint import load_model, save_checkpoint
from s2w_models.config import apply_overrides, paper, preset, tiny
from s2w_models.nets import (
    ConditionalSampleRNN,
    ConvSeq2Seq,
    Scene2Wav,
    SequenceEncoder,
    VisualCNN,
    build_model,
)
from s2w_models.nets import quantize as Qz
from s2w_models.nets.samplernn import LearnedUpsampling


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Small models run faster on one thread; the setting is restored for the other test modules."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def n_params(m):
    return sum(p.numel() for p in m.parameters())


def test_paper_parameter_counts():
    torch.manual_seed(0)
    srnn = ConditionalSampleRNN(paper().samplernn, cond_dim=256)
    assert n_params(srnn.tiers[0]) == 29_410_304  # lower tier (x16 upsampling)
    assert n_params(srnn.tiers[1]) == 16_864_256  # top tier
    assert n_params(srnn.mlp) == 5_574_144
    assert n_params(srnn) - n_params(srnn.h0_proj) == 51_848_704  # spec 4.3: 51.85 M
    assert n_params(srnn.h0_proj) == 526_336  # spec 4.7
    assert n_params(VisualCNN()) == 938  # spec 2
    assert srnn.lookback == 64


@pytest.mark.parametrize("seconds", [3, 10])
def test_cnn_and_encoder_shapes(seconds):
    f = 10 * seconds
    frames = torch.rand(2, f, 3, 100, 100)
    cnn = VisualCNN()
    logits, feats = cnn(frames[0])
    assert logits.shape == (f, 2) and feats.shape == (f, 108)
    for cell, width in (("gru", 2 * 128), ("lstm", 2 * 2 * 128)):
        for inp, steps in (("frames", f), ("legacy_reshape", 108)):
            cfg = apply_overrides(paper(), {"encoder.cell": cell, "encoder.encoder_input": inp})
            enc = SequenceEncoder(cfg.encoder, cfg.cnn, frames_per_clip=f).eval()
            assert enc.sequence(frames).shape == (2, steps, 108 if inp == "frames" else f)
            v = enc.embed(frames)
            assert v.shape == (2, width) == (2, enc.v_dim)
            st = enc.state_from_v(v)
            h = st if cell == "gru" else st[0]
            assert h.shape == (2, 2, 128)


def test_legacy_reshape_is_a_raw_reshape_not_a_transpose():
    cfg = apply_overrides(tiny(), {"encoder.encoder_input": "legacy_reshape"})
    enc = SequenceEncoder(cfg.encoder, cfg.cnn, frames_per_clip=4).eval()
    frames = torch.rand(1, 4, 3, 100, 100)
    feats = enc.cnn.features(frames[0])  # (4, 108)
    seq = enc.sequence(frames)[0]  # (108, 4)
    assert torch.equal(seq, feats.reshape(108, 4))
    assert not torch.equal(seq, feats.t())


@pytest.mark.parametrize("seconds", [3, 10])
def test_baseline_shapes_and_honest_generation(seconds):
    cfg = tiny()
    f, n = 10 * seconds, 16000 * seconds
    torch.manual_seed(0)
    model = ConvSeq2Seq(cfg.baseline, cfg.encoder, cfg.cnn, frames_per_clip=f).eval()
    frames = torch.rand(2, f, 3, 100, 100)
    v = model.encoder.embed(frames)
    wave = model.generate(v, n)
    assert wave.shape == (2, n) and wave.abs().max() <= 1.0
    # generation is a function of the video alone, and equals free-running decoding
    audio = torch.rand(2, 64) * 2 - 1
    with torch.no_grad():
        free = model(frames, audio, decoder_input="autoregressive")
        assert torch.allclose(free, model.generate(v, 64), atol=1e-6)
        shifted = model(frames, audio, decoder_input="shifted")
        leaky = model(frames, audio, decoder_input="leaky_unshifted")
    assert shifted.shape == leaky.shape == (2, 64)
    # leaky: output step 0 depends on target step 0 (the authors' bug); shifted: it does not
    audio2 = audio.clone()
    audio2[:, :8] = -audio2[:, :8]
    with torch.no_grad():
        assert not torch.allclose(model(frames, audio2, decoder_input="leaky_unshifted")[:, :8], leaky[:, :8])
        assert torch.allclose(model(frames, audio2, decoder_input="shifted")[:, :8], shifted[:, :8])
    relu = ConvSeq2Seq(
        apply_overrides(cfg, {"baseline.output_activation": "relu"}).baseline,
        cfg.encoder,
        cfg.cnn,
        frames_per_clip=f,
    )
    assert relu.generate(relu.encoder.embed(frames), 80).min() >= 0


@pytest.mark.parametrize("conditioning", ["h0", "gates", "both", "none"])
@pytest.mark.parametrize("seconds", [3, 10])
def test_scene2wav_chunk_shapes_and_conditioning(conditioning, seconds):
    cfg = apply_overrides(
        tiny(), {"samplernn.conditioning": conditioning, "data.frames_per_clip": 10 * seconds}
    )
    torch.manual_seed(0)
    model = Scene2Wav(cfg).eval()
    srnn = model.samplernn
    frames = torch.rand(2, 10 * seconds, 3, 100, 100)
    v = model.embed(frames)
    codes = torch.randint(0, srnn.q_levels, (2, srnn.lookback + 256 - 1))
    state = srnn.initial_state(v, 2)
    with torch.no_grad():
        logp, new = srnn(codes, state, v)
        assert logp.shape == (2, 256, srnn.q_levels)
        assert torch.allclose(logp.exp().sum(-1), torch.ones(2, 256), atol=1e-4)
        assert [s.shape for s in new] == [(1, 2, 32)] * 2
        # does v change the prediction?
        v2 = v + torch.randn_like(v)
        logp2, _ = srnn(codes, srnn.initial_state(v2, 2), v2)
    assert torch.allclose(logp, logp2) == (conditioning == "none")
    assert srnn.gates == (conditioning in ("gates", "both"))
    assert (srnn.h0_proj is not None) == (conditioning in ("h0", "both"))


def test_gates_conditioning_enters_every_step():
    """With `gates`, v influences late frames even from identical carried states (not only through h0)."""
    cfg = apply_overrides(tiny(), {"samplernn.conditioning": "gates"})
    torch.manual_seed(1)
    srnn = ConditionalSampleRNN(cfg.samplernn, cond_dim=16)
    codes = torch.randint(0, 64, (1, 16 + 256 - 1))
    state = srnn.initial_state(None, 1)
    with torch.no_grad():
        a, _ = srnn(codes, state, torch.zeros(1, 16))
        b, _ = srnn(codes, state, torch.ones(1, 16))
    assert not torch.allclose(a[:, -16:], b[:, -16:])


def test_mlp_tables_equal_convolution_and_upsampling_equals_convtranspose():
    torch.manual_seed(0)
    srnn = ConditionalSampleRNN(apply_overrides(tiny(), {"samplernn.q_levels": 16}).samplernn, cond_dim=0)
    mlp = srnn.mlp
    codes = torch.randint(0, 16, (3, 100 + 3))
    fast = mlp._input_layer(codes, 100)  # 300 > Q: table path
    emb = mlp.embedding(codes).transpose(1, 2)
    ref = torch.nn.functional.conv1d(emb, mlp.input.weight).transpose(1, 2)
    assert torch.allclose(fast, ref, atol=1e-5)
    up = LearnedUpsampling(8, 4)
    x = torch.randn(2, 5, 8)
    ref = up.conv(x.transpose(1, 2)).transpose(1, 2) + up.bias.t().repeat(5, 1)
    assert torch.allclose(up(x), ref, atol=1e-5)


@pytest.mark.parametrize("conditioning", ["h0", "both"])
def test_incremental_step_api_matches_chunk_forward(conditioning):
    """The per-tier `step` + `mlp.step` sampler pieces reproduce the training forward exactly (also folded)."""
    cfg = apply_overrides(tiny(), {"samplernn.conditioning": conditioning})
    torch.manual_seed(2)
    srnn = ConditionalSampleRNN(cfg.samplernn, cond_dim=16).eval()
    b, t, lb, q = 2, 64, srnn.lookback, srnn.q_levels
    seq = torch.randint(0, q, (b, lb + t))
    v = torch.randn(b, 16)
    with torch.no_grad():
        ref, _ = srnn(seq[:, : lb + t - 1], srnn.initial_state(v, b), v)
        for fold in (False, True):
            if fold:
                srnn.fold_weight_norm()
                srnn.mlp.precompute_tables()
            state = srnn.initial_state(v, b)
            top_t, low_t = srnn.tiers[1], srnn.tiers[0]
            for i in range(t):
                p = lb + i
                if i % top_t.n_frame_samples == 0:
                    x = Qz.frame_input(seq[:, p - top_t.n_frame_samples : p], q)
                    top, state[1] = top_t.step(x, None, state[1], v)
                if i % low_t.n_frame_samples == 0:
                    k = i // low_t.n_frame_samples
                    x = Qz.frame_input(seq[:, p - low_t.n_frame_samples : p], q)
                    low, state[0] = low_t.step(x, top[:, k % top_t.frame_size], state[0], v)
                logits = srnn.mlp.step(seq[:, p - srnn.frame_sizes[0] : p], low[:, i % low_t.frame_size])
                assert torch.allclose(torch.log_softmax(logits, -1), ref[:, i], atol=1e-4), (fold, i)
    assert not any("parametrizations" in k for k in srnn.state_dict())


def test_quantisation():
    x = torch.linspace(-0.3, 0.7, 1000).unsqueeze(0)
    codes, lo, hi = Qz.linear_quantize(x, 256)
    assert codes.min() == 0 and codes.max() == 255
    back = Qz.linear_dequantize(codes, 256, lo, hi)
    assert (back - x).abs().max() <= (0.7 + 0.3) / 255  # within one level
    # without the clip's range: centred on 0, in [-1, 1)
    free = Qz.linear_dequantize(codes, 256)
    assert free.min() == -1.0 and free.max() < 1.0
    # constant clip: no division by zero, silence code
    c, _, _ = Qz.linear_quantize(torch.zeros(2, 10), 256)
    assert (c == Qz.q_zero(256)).all()
    # int16-valued input does not overflow (authors' B11)
    c16, _, _ = Qz.linear_quantize(torch.tensor([[-32768.0, 0.0, 32767.0]]), 256)
    assert c16.tolist() == [[0, 128, 255]]  # floor(32768/65535 * 255.99 + 0.005)
    m = Qz.mulaw_quantize(torch.linspace(-1, 1, 5001), 256)
    assert m.min() == 0 and m.max() == 255
    assert Qz.mulaw_quantize(torch.zeros(1), 256).item() == Qz.q_zero(256)
    y = torch.linspace(-0.9, 0.9, 101)
    assert (Qz.mulaw_dequantize(Qz.mulaw_quantize(y, 256), 256) - y).abs().max() < 0.03
    assert Qz.mulaw_dequantize(torch.tensor([128]), 256).abs().item() < 0.01
    assert Qz.frame_input(torch.tensor([0, 128, 255]), 256).tolist() == pytest.approx([-2.0, 0.0, 1.984375])


def test_checkpoint_rebuilds_model(tmp_path):
    cfg = apply_overrides(tiny(), ["samplernn.conditioning=both", "samplernn.quantization=mulaw"])
    for kind in ("cnn", "baseline", "scene2wav"):
        model = build_model(kind, cfg)
        path = save_checkpoint(tmp_path / f"{kind}.pt", model, cfg, {"step": 3})
        back, cfg2, meta = load_model(path)
        assert meta["kind"] == kind and meta["step"] == 3
        assert cfg2.to_dict() == cfg.to_dict()
        assert type(back) is type(model)
        for (k, a), (k2, b) in zip(model.state_dict().items(), back.state_dict().items()):
            assert k == k2 and torch.equal(a, b)
    assert back.samplernn.quantizer.kind == "mulaw"
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(DataError):
        load_model(bad)
    with pytest.raises(DataError):
        load_model(tmp_path / "missing.pt")


def test_config_overrides_and_errors():
    cfg = apply_overrides(
        tiny(), ["samplernn.frame_sizes=2,4", "train.scene2wav.lr=0.01", "samplernn.learn_h0=no"]
    )
    assert (
        cfg.samplernn.frame_sizes == (2, 4)
        and cfg.train.scene2wav.lr == 0.01
        and cfg.samplernn.learn_h0 is False
    )
    with pytest.raises(UsageError, match="did you mean"):
        apply_overrides(tiny(), ["samplernn.conditoning=gates"])
    with pytest.raises(UsageError, match="is not one of"):
        apply_overrides(tiny(), ["samplernn.conditioning=gate"])
    with pytest.raises(UsageError, match="expected int"):
        apply_overrides(tiny(), ["samplernn.dim=big"])
    with pytest.raises(UsageError, match="multiple"):
        apply_overrides(tiny(), ["train.seq_len=100"])
    with pytest.raises(UsageError):
        preset("huge")
