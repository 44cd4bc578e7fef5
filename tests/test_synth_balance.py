"""The synthetic set's layout: both emotions in every split, in proportion; confounders spread, never total."""

from __future__ import annotations

import numpy as np
import pytest

from s2w_models.data.synth import SynthConfig, make_scenes, tail_seconds


@pytest.mark.parametrize("minutes,movies", [(1.0, 2), (3.0, 3), (10.0, 3), (0.8, 2)])
def test_every_part_of_every_movie_holds_both_emotions(minutes, movies):
    for seed in range(6):
        cfg = SynthConfig(minutes=minutes, movies=movies, seed=seed)
        for i in range(movies):
            d = float(cfg.movie_seconds)
            scenes = make_scenes(np.random.default_rng([seed, i]), d, cfg)
            assert scenes[0].start == 0 and abs(scenes[-1].end - d) < 1e-9
            assert all(a.end == b.start and a.positive != b.positive for a, b in zip(scenes, scenes[1:]))
            tail = tail_seconds(d, cfg)
            parts = [[s for s in scenes if s.start < d - tail - 1e-9]]
            if tail:  # the end of a training movie becomes its validation share
                parts.append([s for s in scenes if s.start >= d - tail - 1e-9])
                assert tail >= 0.1 * d - 1e-9
            for part in parts:
                assert {s.positive for s in part} == {True, False}
                for emotion in (True, False):  # the first scene of each emotion in each part is clean
                    first = next(s for s in part if s.positive == emotion)
                    assert not first.confounded
                    warm = not 0.5 <= first.hue_bg <= 0.7
                    assert warm == emotion
            pos = sum(s.end - s.start for s in scenes if s.positive)
            # alternating scenes of 3-15 s: each emotion gets a fair share of the movie
            assert 0.2 * d <= pos <= 0.8 * d


def test_confounders_still_happen():
    cfg = SynthConfig(minutes=30.0, movies=1, seed=1)
    scenes = make_scenes(np.random.default_rng([1, 0]), float(cfg.movie_seconds), cfg)
    share = np.mean([s.confounded for s in scenes])
    assert 0.03 < share < 0.3


def test_data_synth_prints_the_split_roles(tmp_path):
    from click.testing import CliRunner

    from s2w_models.cli import cli

    res = CliRunner().invoke(
        cli,
        [
            "data",
            "synth",
            "--out",
            str(tmp_path),
            "--minutes",
            "0.4",
            "--movies",
            "2",
            "--size",
            "24x32",
            "--quiet",
        ],
    )
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert any("synth02" in line and "| test" in line for line in lines)
    assert any("synth01" in line and "train + val" in line for line in lines)
    assert "positive scenes" in res.output and "train + val" in res.output
