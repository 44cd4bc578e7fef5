"""`data synth`: synthetic emotional "movies" in the COGNIMUSE SOURCE format, so `data prepare` runs unchanged.

Each movie (`<out>/synthNN/`) holds
- `video.mp4`: H.264 picture + stereo AAC sound track;
- `emotion/intended_1.dat`: `time valence arousal` every 0.04 s, 3 decimals (COGNIMUSE format);
- `chords.lab`: the ground-truth chords (mir_eval style `start end root:maj|min`), `scenes.csv`: the scenes;
- `synth.json`: the settings (a rerun with the same settings reuses a finished movie).
`<out>/split.json` names the held-out test movie (the last one) for `data prepare`'s default split.

A movie is a sequence of scenes of random length (3-15 s) whose emotion (valence sign) alternates from one scene
to the next; its last 10 % (at least two 3-s scenes) is a separate run of equal-length scenes of both emotions,
so the validation share `data prepare` cuts from the end of each training movie, and every held-out movie, hold
both emotions. The annotated valence follows the scenes with a 1 s ramp at scene changes plus a slow drift, so
splices that straddle a change get mixed labels.
- Picture: positive scenes warm hues, bright, saturated, fast-moving blobs, flicker; negative scenes cool hues,
  dark, desaturated, slow blobs. Each parameter comes from the opposite emotion's range with probability 0.15
  (confounders), except in the first scene of each emotion in the body and in the tail (so every split has
  clean scenes of both emotions; scenes.csv marks `hue_confounded`), frames get Gaussian noise, and scenes cross-fade over 1 s: learnable, not trivial.
- Sound: piano-like additive synthesis (8 slightly inharmonic partials, fast attack, exponential decays that
  shorten with the partial number). Positive scenes: major triads on the Emotional Circle of Fifths' positive
  roots {C, D, G, A, A#}, 110-150 BPM, chord every 2 beats with arpeggios, register around C4-C5. Negative
  scenes: minor triads on {C#, D#, E, F, G#, B}, 55-80 BPM, sustained chords every 4 beats, register C3-C4.
  Notes are panned, so the "left" and "average" down-mixes differ.
Deterministic for a seed (numpy Generator seeded with (seed, movie index)).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from s2w_eval.io.video import hsv_to_rgb, write_video
from s2w_eval.results import atomic_write_csv, atomic_write_json, atomic_write_text, provenance

PITCH_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
POSITIVE_ROOTS = (0, 2, 7, 9, 10)  # C D G A A#
NEGATIVE_ROOTS = (1, 3, 4, 5, 8, 11)  # C# D# E F G# B
SYNTH_VERSION = 2  # 2: alternating emotions, a two-emotion tail, clean first scenes
TRANSITION_S = 1.0
ANNOTATION_STEP = 0.04
TAIL_FRACTION = 0.1  # = data prepare's default validation share of each training movie


@dataclass(frozen=True)
class SynthConfig:
    minutes: float = 3.0
    seed: int = 0
    movies: int = 3
    fps: int = 25
    height: int = 120
    width: int = 160
    sample_rate: int = 22050
    min_scene_s: float = 3.0
    max_scene_s: float = 15.0
    confound: float = 0.15
    noise: float = 0.04

    @property
    def movie_seconds(self) -> int:
        return max(6, int(round(self.minutes * 60.0 / self.movies)))


@dataclass
class Scene:
    index: int
    start: float
    end: float
    positive: bool
    valence: float
    arousal: float
    hue_bg: float
    hue_obj: float
    sat: float
    val: float
    speed: float
    blobs: int
    flicker: float
    tempo: float
    blob_state: np.ndarray  # (blobs, 5): x0, y0, vx, vy, radius
    confounded: bool = False  # the background hue is the other emotion's


def movie_names(n: int) -> list[str]:
    return [f"synth{i + 1:02d}" for i in range(n)]


# -------------------------------------------------------------------------------------------------- scenes
def _draw(rng: np.random.Generator, positive: bool, confound: float, pos_range, neg_range) -> float:
    use_pos = positive != (rng.random() < confound)
    lo, hi = pos_range if use_pos else neg_range
    return float(rng.uniform(lo, hi))


def tail_seconds(duration: float, cfg: SynthConfig) -> float:
    """Length of the two-emotion tail of a movie (0 when the movie is too short for one)."""
    tail = max(2 * cfg.min_scene_s, TAIL_FRACTION * duration)
    return 0.0 if duration < tail + 2 * cfg.min_scene_s else tail


def scene_layout(
    rng: np.random.Generator, duration: float, cfg: SynthConfig
) -> list[tuple[float, float, bool]]:
    """(start, end, positive) of each scene: emotions alternate at every scene change (from a random first one),
    and the movie's last `TAIL_FRACTION` (at least two shortest scenes) is its own run of equal-length scenes
    of both emotions, so the validation share `data prepare` takes from the end of each training movie holds
    both emotions (and so does every held-out movie, end to end)."""
    tail = tail_seconds(duration, cfg)
    body = duration - tail
    out: list[tuple[float, float, bool]] = []
    positive = bool(rng.random() < 0.5)
    t = 0.0
    while t < body - 1e-9:
        end = min(body, t + float(rng.uniform(cfg.min_scene_s, cfg.max_scene_s)))
        if body - end < cfg.min_scene_s:  # no sliver at the end
            end = body
        out.append((t, end, positive))
        positive = not positive
        t = end
    if tail:
        n = max(2, int(math.ceil(tail / cfg.max_scene_s)))
        n += n % 2
        step = tail / n
        for k in range(n):
            out.append((body + k * step, duration if k == n - 1 else body + (k + 1) * step, positive))
            positive = not positive
    return out


def make_scenes(rng: np.random.Generator, duration: float, cfg: SynthConfig) -> list[Scene]:
    layout = scene_layout(rng, duration, cfg)
    # confounders: a parameter drawn from the other emotion's range with probability `confound`, except in
    # the first scene of each emotion in the body and in the tail, which are clean: every split then holds
    # unconfounded scenes of both emotions (a held-out movie whose positives are all cool-hued tests nothing)
    body_end = duration - tail_seconds(duration, cfg)
    seen: set[tuple[bool, bool]] = set()
    scenes: list[Scene] = []
    for start, end, positive in layout:
        part = (start >= body_end - 1e-9, positive)
        c = cfg.confound if part in seen else 0.0
        seen.add(part)
        mag = float(rng.uniform(0.2, 0.9))
        hue_bg = (_draw(rng, positive, c, (-0.06, 0.12), (0.5, 0.7))) % 1.0
        hue_obj = (hue_bg + rng.uniform(-0.08, 0.08)) % 1.0
        speed = _draw(rng, positive, c, (0.25, 0.7), (0.02, 0.12))
        blobs = int(rng.integers(3, 7)) if positive else int(rng.integers(1, 4))
        state = np.column_stack(
            [
                rng.uniform(0.1, 0.9, blobs),
                rng.uniform(0.1, 0.9, blobs),
                rng.normal(0, 1, blobs),
                rng.normal(0, 1, blobs),
                rng.uniform(0.05, 0.15, blobs),
            ]
        )
        norm = np.hypot(state[:, 2], state[:, 3]) + 1e-9
        state[:, 2:4] *= (speed / norm)[:, None]
        scenes.append(
            Scene(
                index=len(scenes),
                start=start,
                end=end,
                positive=positive,
                valence=mag if positive else -mag,
                arousal=float(np.clip((speed - 0.3) * 2.0 + rng.normal(0, 0.15), -0.9, 0.9)),
                hue_bg=hue_bg,
                hue_obj=hue_obj,
                sat=_draw(rng, positive, c, (0.55, 0.95), (0.1, 0.45)),
                val=_draw(rng, positive, c, (0.6, 0.95), (0.15, 0.45)),
                speed=speed,
                blobs=blobs,
                flicker=_draw(rng, positive, c, (0.04, 0.1), (0.0, 0.02)),
                tempo=float(rng.uniform(110, 150) if positive else rng.uniform(55, 80)),
                blob_state=state,
                confounded=c > 0 and _was_confounded(hue_bg, positive),
            )
        )
    return scenes


def _was_confounded(hue_bg: float, positive: bool) -> bool:
    """Whether the background hue came from the other emotion's range (the confounder a viewer sees first)."""
    cool = 0.5 <= hue_bg <= 0.7
    return cool if positive else not cool


def valence_curve(scenes: list[Scene], duration: float, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """(time, valence, arousal) at 25 Hz: scene targets, 1 s linear ramps at changes, slow drift, 3 decimals."""
    n = int(round(duration / ANNOTATION_STEP))
    t = np.arange(n) * ANNOTATION_STEP
    v = np.empty(n)
    a = np.empty(n)
    for s in scenes:
        m = (t >= s.start - 1e-9) & (t < s.end - 1e-9)
        v[m], a[m] = s.valence, s.arousal
    w = int(round(TRANSITION_S / ANNOTATION_STEP))
    kernel = np.ones(w) / w
    pad = w // 2
    v = np.convolve(np.pad(v, (pad, w - 1 - pad), mode="edge"), kernel, mode="valid")
    a = np.convolve(np.pad(a, (pad, w - 1 - pad), mode="edge"), kernel, mode="valid")
    phases = rng.uniform(0, 2 * np.pi, 4)
    drift = 0.04 * np.sin(2 * np.pi * t / 23.0 + phases[0]) + 0.03 * np.sin(2 * np.pi * t / 9.0 + phases[1])
    v = np.clip(np.round(v + drift, 3), -1, 1)
    a = np.clip(np.round(a + 0.05 * np.sin(2 * np.pi * t / 17.0 + phases[2]), 3), -1, 1)
    return t, v, a


# ------------------------------------------------------------------------------------------------- picture
class _Painter:
    def __init__(self, cfg: SynthConfig, rng: np.random.Generator):
        self.h, self.w = cfg.height, cfg.width
        self.y = np.linspace(0.0, 1.0, self.h, dtype=np.float32)
        self.x = np.linspace(0.0, 1.0, self.w, dtype=np.float32)
        self.yy = np.repeat(self.y[:, None], self.w, axis=1)
        self.xx = np.repeat(self.x[None, :], self.h, axis=0)
        self.cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        # a bank of noise frames drawn once (fresh noise per frame costs more than the picture)
        self.noise = rng.normal(0.0, cfg.noise, (32, self.h, self.w, 3)).astype(np.float32)

    def scene_assets(self, s: Scene) -> tuple[np.ndarray, np.ndarray]:
        if s.index not in self.cache:
            sign = 1.0 if s.positive else -1.0
            hsv = np.stack(
                [
                    (s.hue_bg + 0.06 * sign * self.yy) % 1.0,
                    np.full_like(self.yy, s.sat) * (0.85 + 0.15 * self.xx),
                    s.val * (0.7 + 0.3 * (1.0 - self.yy)),
                ],
                axis=-1,
            )
            cols = hsv_to_rgb(
                np.array(
                    [
                        [(s.hue_obj + 0.04 * b) % 1.0, min(1.0, s.sat + 0.1), min(1.0, s.val + 0.15)]
                        for b in range(s.blobs)
                    ]
                )
            )
            self.cache = {k: v for k, v in self.cache.items() if k >= s.index - 1}
            self.cache[s.index] = (hsv_to_rgb(hsv).astype(np.float32), cols.astype(np.float32))
        return self.cache[s.index]

    def render(self, s: Scene, t: float) -> np.ndarray:
        bg, cols = self.scene_assets(s)
        img = bg.copy()
        local = t - s.start
        st = s.blob_state.tolist()
        for b in range(len(st)):
            # bounce inside [0, 1]: a triangle wave of the free path; separable Gaussian blob
            cx = float(1.0 - abs(1.0 - ((st[b][0] + st[b][2] * local) % 2.0)))
            cy = float(1.0 - abs(1.0 - ((st[b][1] + st[b][3] * local) % 2.0)))
            r2 = float(2.0 * st[b][4] ** 2)
            reach = 3.0 * st[b][4]
            y0, y1 = np.searchsorted(self.y, [cy - reach, cy + reach])
            x0, x1 = np.searchsorted(self.x, [cx - reach, cx + reach])
            m = np.outer(np.exp(-((self.y[y0:y1] - cy) ** 2) / r2), np.exp(-((self.x[x0:x1] - cx) ** 2) / r2))
            patch = img[y0:y1, x0:x1]
            patch += m[..., None] * (cols[b] - patch)
        if s.flicker:
            img *= np.float32(1.0 + s.flicker * np.sin(2 * np.pi * 4.0 * t))
        return img


def render_frames(scenes: list[Scene], duration: float, cfg: SynthConfig, rng: np.random.Generator, bar=None):
    painter = _Painter(cfg, rng)
    n = int(round(duration * cfg.fps))
    half = TRANSITION_S / 2
    si = 0
    for i in range(n):
        t = i / cfg.fps
        while si + 1 < len(scenes) and t >= scenes[si].end:
            si += 1
        s = scenes[si]
        img = painter.render(s, t)
        if si + 1 < len(scenes) and t > s.end - half:  # fade into the next scene
            w = (t - (s.end - half)) / TRANSITION_S
            img = (1 - w) * img + w * painter.render(scenes[si + 1], t)
        elif si > 0 and t < s.start + half:  # finish the fade from the previous scene
            w = (t - (s.start - half)) / TRANSITION_S
            img = (1 - w) * painter.render(scenes[si - 1], t) + w * img
        img = img + painter.noise[int(rng.integers(painter.noise.shape[0]))]
        if bar is not None:
            bar.update(1)
        yield np.clip(img * 255.0 + 0.5, 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------------------------------- sound
def piano_note(midi: int, dur: float, sr: int, velocity: float, rng: np.random.Generator) -> np.ndarray:
    """An additive piano-like note: 8 partials (inharmonicity B = 2e-4), 4 ms attack, per-partial decays."""
    f0 = 440.0 * 2.0 ** ((midi - 69) / 12.0)
    release = 0.08
    n = int((dur + release) * sr)
    t = np.arange(n) / sr
    out = np.zeros(n)
    for k in range(1, 9):
        fk = k * f0 * np.sqrt(1 + 2e-4 * k * k)
        if fk >= sr / 2 * 0.95:
            break
        amp = velocity / k**1.3 * (1 + 0.1 * rng.standard_normal())
        decay = (0.6 + 0.35 * k) * (f0 / 261.6) ** 0.3
        out += amp * np.exp(-decay * t) * np.sin(2 * np.pi * fk * t + rng.uniform(0, 2 * np.pi))
    env = np.minimum(1.0, t / 0.004)
    tail = t > dur
    env[tail] *= np.exp(-(t[tail] - dur) / (release / 4))
    return out * env


def render_audio(scenes: list[Scene], duration: float, cfg: SynthConfig, rng: np.random.Generator):
    """Stereo float32 (samples, 2) and the chord list [(start, end, 'C:maj'), ...]."""
    sr = cfg.sample_rate
    total = int(round(duration * sr))
    mix = np.zeros((total + sr, 2))
    chords: list[tuple[float, float, str]] = []
    prev_root = None
    for s in scenes:
        beat = 60.0 / s.tempo
        chord_len = beat * (2 if s.positive else 4)
        roots = POSITIVE_ROOTS if s.positive else NEGATIVE_ROOTS
        base = 60 if s.positive else 48
        t = s.start
        while t < s.end - 0.25:
            end = min(s.end, t + chord_len)
            if s.end - end < 0.5 * chord_len:  # stretch the last chord to the scene's end
                end = s.end
            root = int(rng.choice([r for r in roots if r != prev_root]))
            prev_root = root
            third = 4 if s.positive else 3
            chords.append((t, end, f"{PITCH_NAMES[root]}:{'maj' if s.positive else 'min'}"))
            notes = [(base + root - 12, 0.0, end - t, 0.35)]  # bass
            triad = [base + root, base + root + third, base + root + 7]
            if s.positive:  # block chord, then arpeggio on the beats (lively)
                notes += [(m, 0.0, end - t, 0.3) for m in triad]
                offs = np.arange(beat / 2, end - t - 0.05, beat / 2)
                for j, o in enumerate(offs):
                    notes.append((triad[j % 3] + 12, float(o), min(beat / 2, end - t - o), 0.22))
            else:  # sustained, softer
                notes += [(m, 0.0, end - t, 0.22) for m in triad]
            for midi, off, dur, vel in notes:
                if dur <= 0.02:
                    continue
                x = piano_note(midi, dur, sr, vel * (1 + 0.1 * rng.standard_normal()), rng)
                i0 = int(round((t + off) * sr))
                seg = x[: max(0, mix.shape[0] - i0)]
                pan = float(rng.uniform(0.25, 0.75))
                mix[i0 : i0 + seg.size, 0] += (1 - pan) * seg
                mix[i0 : i0 + seg.size, 1] += pan * seg
            t = end
    mix = mix[:total]
    mix += rng.normal(0, 1e-3, mix.shape)
    peak = float(np.max(np.abs(mix))) or 1.0
    return (0.8 * mix / peak).astype(np.float32), chords


# ---------------------------------------------------------------------------------------------------- main
def _fmt_time(t: float) -> str:
    s = f"{t:.2f}".rstrip("0").rstrip(".")
    return s or "0"


def synth_movie(folder: Path, index: int, cfg: SynthConfig, progress: bool = True) -> dict[str, Any]:
    from s2w_eval.progress import Progress

    rng = np.random.default_rng([cfg.seed, index])
    duration = float(cfg.movie_seconds)
    scenes = make_scenes(rng, duration, cfg)
    t, v, a = valence_curve(scenes, duration, rng)
    audio, chords = render_audio(scenes, duration, cfg, rng)
    frame_rng = np.random.default_rng([cfg.seed, index, 1])
    n_frames = int(round(duration * cfg.fps))
    with Progress(n_frames, folder.name, "frame", enabled=bool(progress)) as bar:
        write_video(
            folder / "video.mp4",
            render_frames(scenes, duration, cfg, frame_rng, bar),
            cfg.fps,
            audio=audio,
            sample_rate=cfg.sample_rate,
            preset="ultrafast",
            crf=20,
        )
    lines = [f"{_fmt_time(ti)} {vi:.3f} {ai:.3f}".replace("-0.000", "0.000") for ti, vi, ai in zip(t, v, a)]
    atomic_write_text(folder / "emotion" / "intended_1.dat", "\n".join(lines) + "\n")
    atomic_write_text(folder / "chords.lab", "".join(f"{s:.3f}\t{e:.3f}\t{lab}\n" for s, e, lab in chords))
    atomic_write_csv(
        folder / "scenes.csv",
        [
            {
                "scene": s.index,
                "start_s": round(s.start, 3),
                "end_s": round(s.end, 3),
                "emotion": "positive" if s.positive else "negative",
                "valence": round(s.valence, 3),
                "arousal": round(s.arousal, 3),
                "tempo_bpm": round(s.tempo, 1),
                "hue": round(s.hue_bg, 3),
                "hue_confounded": s.confounded,
                "saturation": round(s.sat, 3),
                "value": round(s.val, 3),
                "speed": round(s.speed, 3),
                "blobs": s.blobs,
            }
            for s in scenes
        ],
    )
    meta = {
        "key": _key(cfg, index),
        "movie": folder.name,
        "index": index,
        "duration_s": duration,
        "scenes": len(scenes),
        "chords": len(chords),
        "positive_scenes": sum(s.positive for s in scenes),
    }
    atomic_write_json(folder / "synth.json", meta)
    return meta


def _key(cfg: SynthConfig, index: int) -> dict[str, Any]:
    return {"version": SYNTH_VERSION, "index": index, **asdict(cfg)}


def synthesize(
    out_dir: str | Path,
    minutes: float = 3.0,
    seed: int = 0,
    movies: int = 3,
    *,
    fps: int = 25,
    size: tuple[int, int] = (120, 160),
    sample_rate: int = 22050,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
) -> list[Path]:
    """Write `movies` synthetic movies totalling about `minutes` minutes into `out_dir`; return their folders.

    A movie whose `synth.json` matches these settings is reused (resumable per movie).
    """
    from s2w_eval.progress import track

    from ..config import bounded

    bounded("minutes", minutes, 0.01, 600)  # NaN and 0 refused; 10 h is far more than any test needs
    bounded("movies", movies, 1, 1000)
    bounded("fps (prepare samples 10 frames a second)", fps, 10, 120)
    for side in size:
        bounded("frame size (height, width)", side, 8, 2160)
    bounded("sample rate", sample_rate, 8000, 192_000)
    cfg = SynthConfig(
        minutes=float(minutes),
        seed=int(seed),
        movies=int(movies),
        fps=int(fps),
        height=int(size[0]),
        width=int(size[1]),
        sample_rate=int(sample_rate),
    )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    folders = []
    for i, name in enumerate(track(movie_names(movies), "synth", "movie", enabled=bool(progress))):
        folder = out / name
        marker = folder / "synth.json"
        done = False
        if (
            marker.is_file()
            and (folder / "video.mp4").is_file()
            and (folder / "emotion" / "intended_1.dat").is_file()
        ):
            try:
                done = json.loads(marker.read_text()).get("key") == _key(cfg, i)
            except ValueError:
                done = False
        if not done:
            synth_movie(folder, i, cfg, progress)
        elif log:
            log(f"{name}: reused")
        folders.append(folder)
    atomic_write_json(out / "split.json", {"test": [movie_names(movies)[-1]] if movies >= 2 else []})
    atomic_write_json(
        out / "synth.json",
        {
            "settings": asdict(cfg),
            "movies": movie_names(movies),
            "provenance": provenance(command="s2w-models data synth", seeds={"synth": cfg.seed}),
        },
    )
    return folders


def scene_table(out_dir: str | Path) -> list[dict[str, Any]]:
    """Per movie: its split role (split.json), seconds and scenes of each emotion, hue-confounded scenes."""
    import pandas as pd

    out = Path(out_dir)
    test = set(json.loads((out / "split.json").read_text()).get("test", []))
    rows = []
    for folder in sorted(p for p in out.iterdir() if (p / "scenes.csv").is_file()):
        df = pd.read_csv(folder / "scenes.csv")
        secs = (df["end_s"] - df["start_s"]).groupby(df["emotion"]).sum()
        rows.append(
            {
                "movie": folder.name,
                "split": "test" if folder.name in test else "train + val (its end)",
                "positive scenes": int((df["emotion"] == "positive").sum()),
                "negative scenes": int((df["emotion"] == "negative").sum()),
                "positive s": round(float(secs.get("positive", 0.0)), 1),
                "negative s": round(float(secs.get("negative", 0.0)), 1),
                "hue-confounded": int(df["hue_confounded"].sum()) if "hue_confounded" in df else 0,
            }
        )
    return rows
