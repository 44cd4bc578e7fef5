"""`survey build`: a crowdsourcing batch (one row per task), the task page, an answer key and a manifest.

Output folder (default `reports/<run>/survey/`):
    batch.csv        one row per task (HIT): task_id, batch (this build's id), the page's `${...}` placeholders
                     (media URLs only)
    layout.html      the task layout for the MTurk Requester UI (and Turkle): a fragment without <form>, the
                     platform's form wraps it; its fields become `Answer.<name>` columns
    hit.html         the same layout inside the form the Requester UI adds: the page `survey publish` sends as
                     HTMLQuestion (one per row, placeholders filled) and `survey preview` serves
    media/           the clips (and the headphone-check tones), under opaque names (no sample id or condition
                     in any URL a rater sees); in video mode the scene video muxed with each condition's audio
    answer_key.csv   task, item -> which condition sits at A and at B, attention checks (never linked from
                     anything a rater sees)
    manifest.json    protocol, design, seed, counts, sha256 of every clip and file, provenance

Everything random comes from one seeded generator, so the same inputs and seed give byte-identical files.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np

from ..errors import DataError, Problem, UsageError
from ..io.audio import load_audio, write_wav
from ..io.runs import EMOTIONS, Run, load_run
from ..results import atomic_write_csv, atomic_write_json, atomic_write_text, provenance, sha256_file
from . import headphones
from .design import SurveyDesign
from .page import full_page, render_layout

MEDIA_DIR = "media"
LOUDNESS = ("rms", "peak", "none")
MEDIA_KINDS = ("auto", "audio", "video")
TARGET_RMS = 0.1  # -20 dBFS
PEAK_CEILING = 0.89  # -1 dBFS
KEY_COLUMNS = (
    "task_id",
    "sample",
    "emotion",
    "item",
    "kind",
    "first",
    "second",
    "a_condition",
    "b_condition",
    "a_clip",
    "b_clip",
    "first_side",
    "repeat_of",
    "expected",
)
_CLIP_NAME = re.compile(r"^c[0-9a-f]{16}\.[a-z0-9]{2,5}$")
_SAFE_URL = re.compile(r"^https?://[A-Za-z0-9._~:/?#\[\]@!$&()*+,;=%-]+$")


@dataclass
class BuildResult:
    out: Path
    manifest: dict[str, Any]
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


class PlainHttpWarning(UserWarning):
    """Media served over plain http: the marketplaces' https pages will not load it (mixed content)."""


def check_base_url(base_url: str | None) -> str | None:
    """A base URL for the media: http(s), no characters that could leave an HTML attribute; ends with '/'.

    Plain http passes with a PlainHttpWarning unless it points at this machine (a local test server):
    browsers block http media on the marketplaces' https pages (mixed content).
    """
    if base_url is None:
        return None
    url = base_url.strip()
    if not _SAFE_URL.match(url):
        raise UsageError(
            f"{base_url!r} is not a plain http(s) URL",
            fix="give e.g. https://example.org/my-survey/ (no quotes, spaces or angle brackets)",
            param="base_url",
        )
    url = url if url.endswith("/") else url + "/"
    if url.lower().startswith("http://") and not re.match(r"(?i)^http://(127\.0\.0\.1|localhost)[:/]", url):
        warnings.warn(
            f"media URL {url} is plain http: browsers block http media on MTurk's and Prolific's https pages "
            "(mixed content); host media/ over https",
            PlainHttpWarning,
            stacklevel=2,
        )
    return url


def media_url(base_url: str | None, name: str) -> str:
    rel = f"{MEDIA_DIR}/{quote(name, safe='')}"
    return (base_url or "") + rel


def _process_audio(src: Path, loudness: str) -> tuple[np.ndarray, int]:
    x, sr = load_audio(src)
    x = np.asarray(x, dtype=np.float64)
    x = x - x.mean()  # some published outputs carry a DC offset (values in [0, 1])
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    if peak <= 0:
        raise DataError("silent clip after removing its DC offset", src, "check the generated audio")
    if loudness == "rms":
        rms = float(np.sqrt(np.mean(x * x)))
        gain = min(TARGET_RMS / rms, PEAK_CEILING / peak)
    else:  # peak
        gain = PEAK_CEILING / peak
    return (x * gain).astype(np.float32), sr


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if x.size else 0.0


def add_defect(x: np.ndarray, sr: int, rng: np.random.Generator) -> np.ndarray:
    """The clip with an unmistakable white-noise burst (a quarter of the clip, at most 0.5 s) in the middle.

    Loudness-matched: the burst has the clip's RMS and the whole defect clip is scaled back to the clean
    clip's RMS (peaks kept below -1 dBFS), so that the check is passed by hearing the noise, not by level.
    """
    y = np.array(x, dtype=np.float64, copy=True)
    target = _rms(y)
    n = max(1, min(int(0.5 * sr), len(y) // 4))
    start = max(0, (len(y) - n) // 2)
    burst = rng.standard_normal(n)
    burst *= (target or 0.1) / (_rms(burst) or 1.0)
    ramp = np.minimum(1.0, np.minimum(np.arange(n), np.arange(n)[::-1]) / max(1, int(0.005 * sr)))
    y[start : start + n] = 0.2 * y[start : start + n] + burst * ramp
    if target > 0:
        y *= target / _rms(y)
    peak = float(np.max(np.abs(y))) if y.size else 0.0
    if peak > PEAK_CEILING:
        y *= PEAK_CEILING / peak
    return y.astype(np.float32)


def mux_scene(video: Path, audio: np.ndarray, sr: int, dest: Path) -> None:
    """The scene video (native size and frame rate, as long as the audio) with `audio` as its sound track."""
    from ..io.video import probe_video, read_frames, write_video

    info = probe_video(video)
    seconds = len(audio) / sr
    frames = (rgb for _, rgb in read_frames(video, fps=info.fps, size=None, end=seconds))
    write_video(dest, frames, info.fps, audio=audio, sample_rate=sr)


def _balanced(rng: np.random.Generator, n: int) -> list[bool]:
    """n booleans, half True (the extra one random when n is odd), in random order."""
    half = n // 2
    flags = [True] * half + [False] * half
    if n % 2:
        flags.append(bool(rng.integers(0, 2)))
    return [flags[i] for i in rng.permutation(n)]


def _select_samples(
    run: Run, design: SurveyDesign, usable: set[str], rng: np.random.Generator, notes: list[str]
) -> list[str]:
    chosen: list[str] = []
    for emotion in EMOTIONS:
        ids = [s.id for s in run.samples if s.emotion == emotion and s.id in usable]
        want = design.scenes.get(emotion)
        if want is None:
            chosen.extend(ids)
            continue
        if len(ids) < want:
            notes.append(
                f"the protocol asks for {want} {emotion} scene set(s); the run has {len(ids)} usable, "
                f"all are used"
            )
            chosen.extend(ids)
        else:
            pick = sorted(rng.choice(len(ids), size=want, replace=False).tolist())
            chosen.extend(ids[i] for i in pick)
    return chosen


def _clean_media(media_dir: Path, keep: set[str]) -> None:
    """Remove clips a previous build left behind (only files named like ours)."""
    if media_dir.is_dir():
        for p in media_dir.iterdir():
            if p.is_file() and _CLIP_NAME.match(p.name) and p.name not in keep:
                p.unlink()


def build_survey(
    run_dir: str | Path,
    design: SurveyDesign,
    *,
    protocol_info: dict[str, Any] | None = None,
    base_url: str | None = None,
    seed: int = 0,
    out: str | Path | None = None,
    media: str = "auto",
    loudness: str = "rms",
    progress: bool | None = None,
) -> BuildResult:
    if media not in MEDIA_KINDS:
        raise UsageError(f"unknown media kind {media!r}", fix=f"choose from {', '.join(MEDIA_KINDS)}")
    if loudness not in LOUDNESS:
        raise UsageError(f"unknown loudness mode {loudness!r}", fix=f"choose from {', '.join(LOUDNESS)}")
    base_url = check_base_url(base_url)
    run = load_run(run_dir)
    problems: list[Problem] = list(run.problems)
    notes: list[str] = []
    conditions = design.conditions
    missing = [c for c in conditions if c not in run.conditions]
    if missing:
        from ..vocab import did_you_mean

        have = sorted(run.conditions)
        raise UsageError(
            f"the survey compares condition(s) {', '.join(missing)} that the run does not have"
            f"{did_you_mean(missing[0], have)}",
            run.root,
            f"the run has {', '.join(have) or 'no condition folders'}; choose the pairs among them",
        )
    out_dir = Path(out) if out is not None else Path("reports") / run.name / "survey"
    if base_url is None and out_dir.resolve() == run.root.resolve():
        raise UsageError("must not be the run folder (inputs are never written to)", param="out")

    rng = np.random.default_rng(seed)
    usable = {s.id for s in run.samples if all(s.id in run.conditions[c] for c in conditions)}

    # media kind: video when every sample has a scene video; s2w muxes it with each condition's audio
    def scene_of(sid: str) -> Path | None:
        if sid in run.scenes:
            return run.scenes[sid]
        return next(
            (run.condition_scenes[(c, sid)] for c in conditions if (c, sid) in run.condition_scenes), None
        )

    no_video = sorted(sid for sid in usable if scene_of(sid) is None)
    if media == "auto":  # video when the run already holds per-condition muxes (muxing is asked for by name)
        premuxed = all((c, sid) in run.condition_scenes for c in conditions for sid in usable)
        media = "video" if usable and run.condition_scenes and premuxed else "audio"
    elif media == "video" and no_video:
        raise UsageError(
            f"video media need a scene video for every sample; {len(no_video)} have none "
            f"(e.g. {no_video[0]!r})",
            run.root / "scenes",
            "put scenes/<sample>.mp4 in the run (s2w muxes it with each condition's audio), or build with audio media",
        )

    samples = _select_samples(run, design, usable, rng, notes)
    order = [samples[i] for i in rng.permutation(len(samples))] if samples else []

    # -- clips: processed audio (or the file copied), muxed with the scene video in video mode
    out_dir.mkdir(parents=True, exist_ok=True)
    media_dir = out_dir / MEDIA_DIR
    media_dir.mkdir(exist_ok=True)
    clips: dict[tuple[str, str], str] = {}
    audio_cache: dict[tuple[str, str], tuple[np.ndarray, int]] = {}
    clip_rows: list[dict[str, Any]] = []
    dropped: set[str] = set()

    def new_name(ext: str) -> str:
        return f"c{rng.bytes(8).hex()}{ext}"

    level = {"rms": "RMS -20 dBFS (peak <= -1 dBFS)", "peak": "peak -1 dBFS", "none": "level unchanged"}[
        loudness
    ]
    from ..progress import track

    for sid in track(order, "survey clips", "sample", enabled=progress):
        for cond in conditions:
            src = run.conditions[cond][sid]
            video = scene_of(sid) if media == "video" else None
            if video is not None:
                name = new_name(".mp4")
            else:
                name = new_name(src.suffix.lower() if loudness == "none" else ".wav")
            try:
                if loudness == "none":
                    x, sr = load_audio(src)  # validates the clip
                else:
                    x, sr = _process_audio(src, loudness)
                audio_cache[(cond, sid)] = (x, sr)
                if video is not None:
                    mux_scene(video, x, sr, media_dir / name)
                    processing = f"scene video {video.relative_to(run.root).as_posix()} muxed with the audio ({level}, AAC)"
                elif loudness == "none":
                    shutil.copyfile(src, media_dir / name)
                    processing = "copied unchanged"
                else:
                    write_wav(media_dir / name, x, sr)
                    processing = f"mono, DC removed, {level}, 16-bit WAV at {sr} Hz"
                seconds = round(len(x) / sr, 4)
            except DataError as exc:
                problems.append(Problem.from_error(exc))
                dropped.add(sid)
                continue
            clips[(cond, sid)] = name
            clip_rows.append(
                {
                    "file": f"{MEDIA_DIR}/{name}",
                    "sha256": sha256_file(media_dir / name),
                    "seconds": seconds,
                    "sample": sid,
                    "condition": cond,
                    "source": src.relative_to(run.root).as_posix(),
                    "source_sha256": sha256_file(src),
                    "processing": processing,
                }
            )
    if dropped:
        for sid in sorted(dropped):
            notes.append(f"sample {sid!r} left out of the survey: one of its clips could not be used")
        order = [s for s in order if s not in dropped]
        clip_rows = [r for r in clip_rows if r["sample"] not in dropped]

    # -- tasks: one per sample; A/B orientation counterbalanced per pair across tasks
    n_tasks = len(order)
    pairs = list(design.pairs)
    orient = (
        {p: _balanced(rng, n_tasks) for p in pairs}
        if design.counterbalance
        else {p: [True] * n_tasks for p in pairs}
    )
    checks = design.check_kinds
    defect_sides = _balanced(rng, n_tasks)
    n_items = len(pairs) + len(checks)
    key_rows: list[dict[str, Any]] = []
    batch_rows: list[dict[str, Any]] = []
    emotion = {s.id: s.emotion for s in run.samples}
    for t, sid in enumerate(order):
        task_id = f"t{t + 1:03d}"
        items: list[dict[str, Any]] = []
        for p in pairs:
            first_at_a = orient[p][t]
            a, b = (p[0], p[1]) if first_at_a else (p[1], p[0])
            items.append(
                {
                    "kind": "pair",
                    "first": p[0],
                    "second": p[1],
                    "a_condition": a,
                    "b_condition": b,
                    "a_clip": clips[(a, sid)],
                    "b_clip": clips[(b, sid)],
                    "first_side": "A" if first_at_a else "B",
                    "repeat_of": None,
                    "expected": "",
                }
            )
        for kind in checks:
            if kind == "repeat":
                src_item = items[int(rng.integers(0, len(pairs)))]
                items.append(
                    {
                        **src_item,
                        "kind": "repeat",
                        "a_condition": src_item["b_condition"],
                        "b_condition": src_item["a_condition"],
                        "a_clip": src_item["b_clip"],
                        "b_clip": src_item["a_clip"],
                        "first_side": "B" if src_item["first_side"] == "A" else "A",
                        "repeat_of": src_item,
                    }
                )
            else:  # defect: a clip against itself with a loud noise burst; the clean one is expected
                cond = conditions[int(rng.integers(0, len(conditions)))]
                clean = clips[(cond, sid)]
                x, sr = audio_cache[(cond, sid)]
                y = add_defect(x, sr, rng)
                if media == "video":  # a video too: the picture gives no hint which side is the check
                    bad = new_name(".mp4")
                    mux_scene(scene_of(sid), y, sr, media_dir / bad)
                else:
                    bad = new_name(".wav")
                    write_wav(media_dir / bad, y, sr)
                clip_rows.append(
                    {
                        "file": f"{MEDIA_DIR}/{bad}",
                        "sha256": sha256_file(media_dir / bad),
                        "seconds": round(len(x) / sr, 4),
                        "sample": sid,
                        "condition": f"{cond}+defect",
                        "source": run.conditions[cond][sid].relative_to(run.root).as_posix(),
                        "source_sha256": sha256_file(run.conditions[cond][sid]),
                        "processing": "attention check: the clean clip with a white-noise burst, loudness-matched",
                    }
                )
                clean_at_a = defect_sides[t]
                defect_cond = f"{cond}+defect"
                items.append(
                    {
                        "kind": "defect",
                        "first": cond,
                        "second": defect_cond,
                        "a_condition": cond if clean_at_a else defect_cond,
                        "b_condition": defect_cond if clean_at_a else cond,
                        "a_clip": clean if clean_at_a else bad,
                        "b_clip": bad if clean_at_a else clean,
                        "first_side": "A" if clean_at_a else "B",
                        "repeat_of": None,
                        "expected": "A" if clean_at_a else "B",
                    }
                )
        # shuffle the items; keep a repeated pair away from its original
        for _ in range(100):
            perm = [items[i] for i in rng.permutation(len(items))]
            pos = {id(it): k for k, it in enumerate(perm)}
            if (
                all(abs(pos[id(it)] - pos[id(it["repeat_of"])]) > 1 for it in perm if it["kind"] == "repeat")
                or len(items) <= 3
            ):
                break
        pos = {id(it): k + 1 for k, it in enumerate(perm)}
        row = {"task_id": task_id}
        for k, it in enumerate(perm, start=1):
            row[f"pair{k}_a"] = media_url(base_url, it["a_clip"])
            row[f"pair{k}_b"] = media_url(base_url, it["b_clip"])
            key_rows.append(
                {
                    "task_id": task_id,
                    "sample": sid,
                    "emotion": emotion[sid],
                    "item": k,
                    "kind": it["kind"],
                    "first": it["first"],
                    "second": it["second"],
                    "a_condition": it["a_condition"],
                    "b_condition": it["b_condition"],
                    "a_clip": it["a_clip"],
                    "b_clip": it["b_clip"],
                    "first_side": it["first_side"],
                    "repeat_of": pos[id(it["repeat_of"])] if it["repeat_of"] is not None else "",
                    "expected": it["expected"],
                }
            )
        batch_rows.append(row)

    # -- headphone check (Woods et al. 2017) and the practice pair: the same for every task, baked into the page
    hp_trials: list[dict[str, Any]] = []
    for k in range(design.headphone_trials):
        trial = headphones.make_trial(rng, design.headphone_tone_seconds)
        name = new_name(".wav")
        write_wav(media_dir / name, trial.audio, 16000)
        hp_trials.append({"trial": k + 1, "clip": name, "quiet": trial.quiet, "antiphase": trial.antiphase})
        clip_rows.append(
            {
                "file": f"{MEDIA_DIR}/{name}",
                "sha256": sha256_file(media_dir / name),
                "seconds": round(len(trial.audio) / 16000, 4),
                "sample": "",
                "condition": "headphone-check",
                "source": "",
                "source_sha256": "",
                "processing": "three 200 Hz tones, one -6 dB, one anti-phase (Woods et al. 2017), stereo WAV",
            }
        )
    practice = None
    if design.practice and key_rows:
        first_pair = next(
            r for r in key_rows if r["task_id"] == key_rows[0]["task_id"] and r["kind"] == "pair"
        )
        practice = {
            "task_id": first_pair["task_id"],
            "sample": first_pair["sample"],
            "a_clip": first_pair["a_clip"],
            "b_clip": first_pair["b_clip"],
        }
    keep = {r["file"].split("/", 1)[1] for r in clip_rows}
    _clean_media(media_dir, keep)
    # the batch id: which build a results row comes from (results of another batch are refused)
    digest = hashlib.sha256()
    for r in key_rows:
        digest.update(repr(sorted(r.items())).encode())
    batch_id = f"s2w-{digest.hexdigest()[:12]}"
    for row in batch_rows:
        row["batch"] = batch_id
    batch_cols = ["task_id", "batch"] + [f"pair{k}_{s}" for k in range(1, n_items + 1) for s in ("a", "b")]
    atomic_write_csv(out_dir / "batch.csv", batch_rows, batch_cols)
    layout = render_layout(
        design,
        n_items,
        media,
        headphone_urls=[media_url(base_url, t["clip"]) for t in hp_trials],
        practice_urls=(media_url(base_url, practice["a_clip"]), media_url(base_url, practice["b_clip"]))
        if practice
        else None,
        version=batch_id,
    )
    atomic_write_text(out_dir / "layout.html", layout)
    atomic_write_text(out_dir / "hit.html", full_page(layout, design.title))
    atomic_write_csv(out_dir / "answer_key.csv", key_rows, KEY_COLUMNS)

    by_emotion = {e: sum(1 for s in order if emotion[s] == e) for e in EMOTIONS}
    durations = {r["file"]: r["seconds"] for r in clip_rows}
    fixed = sum(durations.get(f"{MEDIA_DIR}/{t['clip']}") or 0.0 for t in hp_trials)
    if practice:
        fixed += sum(durations.get(f"{MEDIA_DIR}/{practice[c]}") or 0.0 for c in ("a_clip", "b_clip"))
    task_seconds = [
        fixed
        + sum(
            durations.get(f"{MEDIA_DIR}/{kr[c]}") or 0.0
            for kr in key_rows
            if kr["task_id"] == row["task_id"]
            for c in ("a_clip", "b_clip")
        )
        for row in batch_rows
    ]
    prov = provenance(command="s2w-eval survey build", seeds={"survey": seed}, protocol=protocol_info)
    for volatile in ("created_utc", "argv"):  # the manifest is byte-identical for the same inputs and seed
        prov.pop(volatile, None)
    samples_csv = run.root / "samples.csv"
    manifest = {
        "format": "s2w-survey/1",
        "run": {"name": run.name, "samples_csv_sha256": sha256_file(samples_csv)},
        "protocol": protocol_info,
        "design": design.as_dict(),
        "seed": seed,
        "batch_id": batch_id,
        "media": media,
        "loudness": loudness,
        "base_url": base_url,
        "counts": {
            "tasks": n_tasks,
            "items_per_task": n_items,
            "pairs_per_task": len(pairs),
            "attention_checks_per_task": len(checks),
            "assignments_per_task": design.raters,
            "answers_expected": n_tasks * design.raters * len(pairs),
            "scenes_requested": dict(design.scenes),
            "scenes_used": by_emotion,
            "clips": len(clip_rows),
            "min_task_seconds_to_play_everything": round(min(task_seconds), 3)
            if task_seconds and all(d is not None for d in durations.values())
            else None,
        },
        "min_seconds": design.min_seconds,
        "headphone_check": {
            "method": "anti-phase test (Woods, Siegel, Traer & McDermott 2017, Atten. Percept. Psychophys. "
            "79:2064-2072, doi:10.3758/s13414-017-1361-2)",
            "trials": hp_trials,
            "pass": design.headphone_pass,
        }
        if hp_trials
        else None,
        "practice": practice,
        "files": {
            name: sha256_file(out_dir / name)
            for name in ("batch.csv", "layout.html", "hit.html", "answer_key.csv")
        },
        "clips": clip_rows,
        "notes": notes,
        "problems": [p.format() for p in problems],
        "provenance": prov,
    }
    atomic_write_json(out_dir / "manifest.json", manifest)
    if n_tasks == 0:
        problems.append(
            Problem(str(run.root), "no sample has a usable clip in every condition; the survey is empty")
        )
    return BuildResult(out_dir, manifest, problems, notes)
