"""Generation: the fast sampler against the model's own training forward, determinism, sampling options,
the run layout (checked by s2w_eval's run loader), resume, the CLI. Tiny models on a tiny prepared dataset."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from s2w_eval.io.audio import read_audio
from s2w_eval.io.runs import load_run

SR = 16000
N_AUDIO = 6400  # 0.4 s: a multiple of the tiny top frame (16) and of the baseline step (8)
FRAMES = 4
FPS = 10


def _tiny_config(**over):
    from s2w_models import config as C

    items = [
        f"data.frames_per_clip={FRAMES}",
        f"data.audio_len={N_AUDIO}",
        "data.seconds=0.4",
        f"data.fps={FPS}",
    ]
    items += [f"{k}={v}" for k, v in over.items()]
    return C.apply_overrides(C.tiny(), items)


def make_dataset(root: Path, n_test: int = 6) -> Path:
    """A prepared dataset folder in SpliceDataset's format: n_test test clips (half positive) + 2 train clips."""
    import pandas as pd

    from s2w_eval.results import atomic_write_json

    rng = np.random.default_rng(0)
    n = n_test + 2
    (root / "shards").mkdir(parents=True)
    frames = rng.integers(0, 256, size=(n, FRAMES, 3, 100, 100), dtype=np.uint8)
    t = np.arange(N_AUDIO) / SR
    audio = np.stack([np.sin(2 * np.pi * (220 + 40 * i) * t) * 0.5 * 32767 for i in range(n)]).astype(
        np.int16
    )
    np.save(root / "shards" / "M1.frames.npy", frames)
    np.save(root / "shards" / "M1.audio.npy", audio)
    rows = []
    for i in range(n):
        pos = i % 2 == 0
        rows.append(
            {
                "sample": f"M1_{i:03d}",
                "movie": "M1",
                "start_s": 0.4 * i,
                "valence": 0.5 if pos else -0.5,
                "arousal": 0.0,
                "emotion": "positive" if pos else "negative",
                "split": "test" if i < n_test else "train",
                "shard": "M1",
                "row": i,
            }
        )
    pd.DataFrame(rows).to_csv(root / "samples.csv", index=False)
    atomic_write_json(
        root / "dataset.json",
        {
            "seconds": 0.4,
            "fps": FPS,
            "frames_per_clip": FRAMES,
            "frame_size": [100, 100],
            "color": "hsv",
            "sample_rate": SR,
            "audio_len": N_AUDIO,
        },
    )
    return root


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    from s2w_models.checkpoint import save_checkpoint
    from s2w_models.nets import build_model

    root = tmp_path_factory.mktemp("gen")
    data = make_dataset(root / "data")
    torch.manual_seed(0)
    cfg = _tiny_config()
    ck = {}
    for kind in ("scene2wav", "baseline"):
        model = build_model(kind, cfg)
        with torch.no_grad():  # non-zero biases and h0 so that every folded piece matters
            for name, p in model.named_parameters():
                if "bias" in name or name.endswith("h0"):
                    p.normal_(0, 0.1)
        ck[kind] = save_checkpoint(root / f"{kind}.pt", model, cfg, {"stage": kind})
    return {"root": root, "data": data, "ck": ck, "cfg": cfg}


@pytest.fixture(scope="module")
def run(assets):
    from s2w_models.generate import generate_run

    out = assets["root"] / "run"
    res = generate_run(
        [assets["ck"]["scene2wav"], assets["ck"]["baseline"]],
        assets["data"],
        out,
        n=4,
        seed=3,
        batch_size=3,
        progress=False,
    )
    return out, res


# ------------------------------------------------------------------------------------------------ sampler
@pytest.mark.parametrize("conditioning", ["h0", "gates", "none"])
def test_fast_sampler_matches_training_forward(conditioning):
    """The folded incremental sampler's per-step log-probabilities equal the model's teacher-forced forward."""
    from s2w_models.generate import fold_samplernn
    from s2w_models.nets import build_model
    from s2w_models.sampler import sample

    torch.manual_seed(1)
    cfg = _tiny_config(**{"samplernn.conditioning": conditioning})
    model = build_model("scene2wav", cfg).eval()
    with torch.no_grad():
        for name, p in model.samplernn.named_parameters():
            if "bias" in name or name.endswith("h0"):
                p.normal_(0, 0.2)
    srnn = model.samplernn
    b, length = 3, 256
    with torch.inference_mode():
        v = model.embed(torch.rand(b, FRAMES, 3, 100, 100))
        state = srnn.initial_state(v, b)
        res = sample(
            fold_samplernn(srnn),
            list(reversed(state)),
            length,
            [5, 6, 7],
            return_logp=True,
            v=v if srnn.gates else None,
        )
        prefix = torch.full((b, srnn.lookback), srnn.q_levels // 2)
        logp, _ = srnn(torch.cat([prefix, res.codes], 1)[:, :-1], state, v)
    ref = logp.gather(-1, res.codes.unsqueeze(-1)).squeeze(-1)
    assert res.codes.shape == (b, length)
    assert int(res.codes.min()) >= 0 and int(res.codes.max()) < srnn.q_levels
    assert torch.allclose(ref, res.logp, atol=1e-4), float((ref - res.logp).abs().max())
    assert len(torch.unique(res.codes)) > 8  # it samples, not a constant


def _tiny_folded(seed=2):
    from s2w_models.generate import fold_samplernn
    from s2w_models.nets import build_model

    torch.manual_seed(seed)
    model = build_model("scene2wav", _tiny_config()).eval()
    srnn = model.samplernn
    return fold_samplernn(srnn), srnn


def test_sampler_determinism_and_batch_independence():
    from s2w_models.sampler import sample

    folded, srnn = _tiny_folded()
    h = srnn.initial_state(None, 3)
    a = sample(folded, list(reversed(h)), 192, [11, 12, 13]).codes
    b = sample(folded, list(reversed(h)), 192, [11, 12, 13]).codes
    assert torch.equal(a, b)
    alone = sample(folded, [x[:, 1:2] for x in reversed(h)], 192, [12]).codes
    assert torch.equal(alone[0], a[1])  # a clip's audio depends on its seed, not on its batch
    other = sample(folded, list(reversed(h)), 192, [14, 12, 15]).codes
    assert not torch.equal(other[0], a[0]) and torch.equal(other[1], a[1])


def test_temperature_and_top_k():
    from s2w_models.sampler import sample

    folded, srnn = _tiny_folded()
    h = list(reversed(srnn.initial_state(None, 2)))
    greedy = sample(folded, h, 128, [1, 2], temperature=0.0).codes
    top1 = sample(folded, h, 128, [3, 4], top_k=1).codes
    assert torch.equal(greedy, top1)
    assert torch.equal(greedy[0], greedy[1])  # greedy ignores the seed
    # top-k: every drawn code is among the k most likely of its step (checked by teacher forcing the logits)
    k = 3
    res = sample(folded, h, 128, [5, 6], top_k=k, return_logp=True)
    full = sample(folded, h, 128, [5, 6], forced=res.codes, return_logp=True)
    assert torch.allclose(res.logp, full.logp)
    hot = sample(folded, h, 128, [5, 6], temperature=5.0).codes
    cold = sample(folded, h, 128, [5, 6], temperature=0.2).codes
    assert len(torch.unique(hot)) > len(torch.unique(cold))
    with pytest.raises(ValueError, match="multiple"):
        sample(folded, h, 100, [1, 2])


def test_bf16_sampler_close_to_fp32():
    from s2w_models.sampler import sample

    folded, srnn = _tiny_folded()
    h = list(reversed(srnn.initial_state(None, 2)))
    exact = sample(folded, h, 128, [1, 2], return_logp=True)
    low = sample(folded.to(dtype=torch.bfloat16), h, 128, [1, 2], forced=exact.codes, return_logp=True)
    diff = (low.logp - exact.logp).abs()
    assert float(diff.max()) < 0.1 and float(diff.max()) > 0  # close, and really computed in bf16


def test_top_k_restricts_to_k_most_likely():
    from s2w_models.sampler import sample_logits

    torch.manual_seed(0)
    logits = torch.randn(500, 64)
    gumbel = -torch.log(-torch.log(torch.rand(500, 64)))
    drawn = sample_logits(logits, gumbel, 1.0, 4)
    top4 = torch.topk(logits, 4, dim=-1).indices
    assert bool((top4 == drawn.unsqueeze(-1)).any(-1).all())
    assert len(torch.unique(drawn - 0)) > 4  # different steps pick different codes


def test_postprocess_range_and_dc():
    from s2w_models.generate import postprocess
    from s2w_models.nets.quantize import linear_dequantize

    codes = torch.randint(
        100, 256, (2, 1000)
    )  # a biased code distribution: a DC offset before postprocessing
    w = postprocess(linear_dequantize(codes, 256))
    assert w.dtype == np.float32 and w.shape == (2, 1000)
    assert np.abs(w.mean(axis=1)).max() < 1e-6
    assert np.abs(w).max() <= 1.0


def test_select_samples_balanced_seeded():
    from s2w_models.generate import select_samples

    emos = ["negative"] * 30 + ["positive"] * 10
    sel = select_samples(emos, 10, seed=1)
    assert len(sel) == 10 and sel == sorted(sel)
    assert sum(emos[i] == "positive" for i in sel) == 5
    assert select_samples(emos, 10, seed=1) == sel
    assert select_samples(emos, 10, seed=2) != sel
    short = select_samples(emos, 30, seed=0)  # only 10 positives: all taken, the rest negative
    assert sum(emos[i] == "positive" for i in short) == 10 and len(short) == 30
    assert select_samples(emos, None, 0) == list(range(40))


# -------------------------------------------------------------------------------------------------- runs
def test_run_layout_loads_without_problems(run, assets):
    out, res = run
    assert res.problems == []
    r = load_run(out)
    assert r.problems == []
    assert len(r.samples) == 4
    assert sorted(s.emotion for s in r.samples) == ["negative", "negative", "positive", "positive"]
    assert set(r.conditions) == {"target", "scene2wav", "baseline"}
    assert set(r.samples[0].extra) == {"valence", "source", "start_s"}
    for cond in ("target", "scene2wav", "baseline"):
        for s in r.samples:
            x, info = read_audio(r.clip(cond, s.id))
            assert info.sample_rate == SR and info.channels == 1 and x.shape[0] == N_AUDIO
            assert np.abs(x).max() <= 1.0
            if cond != "target":
                assert abs(float(x.mean())) < 2e-4  # dequantised, no DC offset
                assert float(x.std()) > 1e-3
            assert (cond, s.id) in r.condition_scenes
        assert s.id in r.scenes
    side = r.sidecars[("scene2wav", r.samples[0].id)]
    for key in (
        "model",
        "checkpoint_sha256",
        "seed",
        "temperature",
        "top_k",
        "protocol",
        "duration",
        "generation_time_s",
        "s2w_version",
        "clip_seed",
    ):
        assert key in side
    from s2w_eval.results import sha256_file

    assert side["checkpoint_sha256"] == sha256_file(assets["ck"]["scene2wav"])
    assert side["seed"] == 3 and side["duration"] == pytest.approx(0.4)
    # the scene video holds the frames and the real audio
    from s2w_eval.io.video import probe_video

    info = probe_video(r.scenes[r.samples[0].id]).to_dict()
    assert min(info["width"], info["height"]) >= 300, info
    from s2w_eval.io.audio import load_audio

    muxed, _ = load_audio(r.condition_scenes[("scene2wav", r.samples[0].id)], SR)
    assert abs(muxed.shape[0] - N_AUDIO) < 2048  # the model's audio is in the video (AAC frames pad the end)
    # a different selection in the same folder is refused (it would leave orphan files)
    from s2w_eval.errors import UsageError
    from s2w_models.generate import generate_run

    with pytest.raises(UsageError, match="different selection"):
        generate_run(
            [assets["ck"]["baseline"]], assets["data"], out, n=2, seed=3, progress=False, video=False
        )
    gen = json.loads((out / "generation.json").read_text())
    assert gen["generated"] == {"scene2wav": 4, "baseline": 4} and "provenance" in gen


def test_resume_and_determinism(run, assets, tmp_path):
    from s2w_models.generate import generate_run

    out, _ = run
    cks = [assets["ck"]["scene2wav"], assets["ck"]["baseline"]]
    before = {p: p.read_bytes() for p in out.glob("*/*.wav")}
    res = generate_run(cks, assets["data"], out, n=4, seed=3, progress=False, video=False)
    assert res.generated == {"scene2wav": 0, "baseline": 0} and res.skipped == {"scene2wav": 4, "baseline": 4}
    lost = sorted(out.glob("scenes/scene2wav/*.mp4"))[0]  # a video lost after its audio was done is re-made
    lost.unlink()
    res = generate_run(cks, assets["data"], out, n=4, seed=3, progress=False)
    assert lost.exists() and res.generated == {"scene2wav": 0, "baseline": 0} and res.problems == []
    victim = sorted(out.glob("scene2wav/*.wav"))[1]
    victim.unlink()
    res = generate_run(cks, assets["data"], out, n=4, seed=3, batch_size=1, progress=False, video=False)
    assert res.generated == {"scene2wav": 1, "baseline": 0}
    assert victim.read_bytes() == before[victim]  # same audio alone as in its first batch
    # a fresh run with the same seed gives the same audio; another seed, other scenes' audio
    other = tmp_path / "again"
    generate_run(cks[:1], assets["data"], other, n=4, seed=3, batch_size=4, progress=False, video=False)
    for p in other.glob("scene2wav/*.wav"):
        assert p.read_bytes() == (out / "scene2wav" / p.name).read_bytes()
    # changed settings (temperature) invalidate the sidecars: everything is regenerated
    res = generate_run(
        cks[:1], assets["data"], other, n=4, seed=3, temperature=0.9, progress=False, video=False
    )
    assert res.generated == {"scene2wav": 4}


def test_cli_generate_and_errors(assets, tmp_path):
    from s2w_eval.clikit import run_main
    from s2w_models.cli import cli

    ck = str(assets["ck"]["scene2wav"])
    base = ["generate", "--checkpoint", ck, "--data", str(assets["data"]), "--quiet", "--no-video"]
    out = tmp_path / "cli-run"
    assert run_main(cli, base + ["--out", str(out), "--n", "2", "--top-k", "8", "--seed", "1"]) == 0
    r = load_run(out)
    assert r.problems == [] and len(r.samples) == 2
    assert r.sidecars[("scene2wav", r.samples[0].id)]["top_k"] == 8
    # usage errors exit 2, a missing checkpoint exits 1
    assert run_main(cli, base + ["--out", str(tmp_path / "x"), "--models", "scene2wave"]) == 2
    assert run_main(cli, base + ["--out", str(tmp_path / "x"), "--models", "baseline"]) == 2
    assert (
        run_main(cli, base + ["--out", str(tmp_path / "x"), "--protocol", "quickstart"]) == 2
    )  # 1 s > 0.4 s
    missing = [
        "generate",
        "--checkpoint",
        str(tmp_path / "nope.pt"),
        "--data",
        str(assets["data"]),
        "--out",
        str(tmp_path / "y"),
        "--quiet",
    ]
    assert run_main(cli, missing) == 1


def test_protocol_sets_duration(assets, tmp_path):
    import yaml

    from s2w_eval.protocols import find_protocol
    from s2w_models.generate import generate_run

    spec = yaml.safe_load(find_protocol("quickstart").read_text())
    spec.update(name="gen-test", version="9", duration=0.2)
    proto = tmp_path / "gen-test.yaml"
    proto.write_text(yaml.safe_dump(spec))
    out = tmp_path / "proto-run"
    res = generate_run(
        [assets["ck"]["baseline"]], assets["data"], out, n=2, protocol=proto, progress=False, video=False
    )
    assert res.problems == []
    for p in out.glob("*/*.wav"):
        x, info = read_audio(p)
        assert x.shape[0] == 3200
    side = json.loads(next(out.glob("baseline/*.json")).read_text())
    assert side["protocol"] == {"name": "gen-test", "version": "9"}
    shutil.rmtree(out)
