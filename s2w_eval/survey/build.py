"""`survey build`: a crowdsourcing batch (one row per task), the task page, an answer key and a manifest.

Output folder (default `reports/<run>/survey/`):
    batch.csv        one row per task (HIT); columns = the page's `${...}` placeholders (media URLs only)
    hit.html         the task page (Mechanical Turk HTMLQuestion/layout format: a form whose fields become
                     `Answer.<name>` columns)
    media/           the clips, under opaque names (no sample id or condition in any URL a rater sees)
    answer_key.csv   task, item -> which condition sits at A and at B, attention checks (never linked from
                     anything a rater sees)
    manifest.json    protocol, design, seed, counts, sha256 of every clip and file, provenance

Everything random comes from one seeded generator, so the same inputs and seed give byte-identical files.
"""

from __future__ import annotations

import html
import re
import shutil
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np

from ..errors import DataError, Problem, UsageError
from ..io.audio import load_audio, write_wav
from ..io.runs import EMOTIONS, Run, load_run
from ..results import atomic_write_csv, atomic_write_json, atomic_write_text, provenance, sha256_file
from .design import SurveyDesign

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


def template_text() -> str:
    return resources.files("s2w_eval.survey").joinpath("hit.html").read_text(encoding="utf-8")


def check_base_url(base_url: str | None) -> str | None:
    """A base URL for the media: http(s), no characters that could leave an HTML attribute; ends with '/'."""
    if base_url is None:
        return None
    url = base_url.strip()
    if not _SAFE_URL.match(url):
        raise UsageError(
            f"--base-url {base_url!r} is not a plain http(s) URL",
            fix="give e.g. https://example.org/my-survey/ (no quotes, spaces or angle brackets)",
        )
    return url if url.endswith("/") else url + "/"


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


def add_defect(x: np.ndarray, sr: int, rng: np.random.Generator) -> np.ndarray:
    """The clip with a loud, unmistakable noise burst (a quarter of the clip, at most 0.5 s) in the middle."""
    y = np.array(x, dtype=np.float32, copy=True)
    n = max(1, min(int(0.5 * sr), len(y) // 4))
    start = max(0, (len(y) - n) // 2)
    burst = rng.uniform(-0.8, 0.8, size=n).astype(np.float32)
    ramp = np.minimum(1.0, np.minimum(np.arange(n), np.arange(n)[::-1]) / max(1, int(0.005 * sr)))
    y[start : start + n] = np.clip(0.2 * y[start : start + n] + burst * ramp.astype(np.float32), -1.0, 1.0)
    return y


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


def render_page(design: SurveyDesign, n_items: int, media: str) -> str:
    """hit.html: the template with the design's items; `${pair<i>_a}`/`${pair<i>_b}` stay as placeholders."""
    items = []
    none_choice = ""
    for i in range(1, n_items + 1):
        if design.allow_no_preference:
            none_choice = (
                f'<label class="choice"><input type="radio" name="pair{i}" value="none" disabled> '
                f"No preference</label>"
            )
        items.append(
            f'<fieldset class="item" data-item="{i}">\n'
            f"  <legend>Pair {i} of {n_items}</legend>\n"
            f'  <div class="clips">\n'
            f'    <div class="clip" data-side="A"><div class="media" data-src="${{pair{i}_a}}"></div>'
            f'<button type="button" class="play" data-side="A">&#9654; Play A</button>'
            f'<span class="state">not played yet</span></div>\n'
            f'    <div class="clip" data-side="B"><div class="media" data-src="${{pair{i}_b}}"></div>'
            f'<button type="button" class="play" data-side="B">&#9654; Play B</button>'
            f'<span class="state">not played yet</span></div>\n'
            f"  </div>\n"
            f'  <p class="question">{html.escape(design.question)}</p>\n'
            f'  <div class="choices">'
            f'<label class="choice"><input type="radio" name="pair{i}" value="A" disabled> A</label>'
            f'<label class="choice"><input type="radio" name="pair{i}" value="B" disabled> B</label>'
            f"{none_choice}</div>\n"
            f'  <p class="hint">Play both clips to the end to answer.</p>\n'
            f"</fieldset>"
        )
    what = "scene videos" if media == "video" else "music clips"
    instructions = (
        f"You will compare {n_items} pairs of {what}. For each pair, play clip A and clip B to the "
        f"end (you may replay them), then say which one you prefer"
        f"{' or that you have no preference' if design.allow_no_preference else ''}. "
        f"Some pairs contain a clip with a loud noise burst: a clip with such a defect is never the "
        f"better one. Please use headphones in a quiet place."
    )
    page = template_text()
    page = page.replace("{{INSTRUCTIONS}}", html.escape(instructions))
    page = page.replace("{{N_ITEMS}}", str(int(n_items)))
    page = page.replace("{{ITEMS}}", "\n".join(items))
    return page


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
            f"the run has {', '.join(have) or 'no condition folders'}; choose --pairs among them",
        )
    out_dir = Path(out) if out is not None else Path("reports") / run.name / "survey"
    if base_url is None and out_dir.resolve() == run.root.resolve():
        raise UsageError("--out must not be the run folder (inputs are never written to)")

    rng = np.random.default_rng(seed)
    # media kind: video only when every clip has a scene video muxed with its condition's audio
    has_video = all(
        (c, s.id) in run.condition_scenes
        for c in conditions
        for s in run.samples
        if all(s.id in run.conditions[c2] for c2 in conditions)
    )
    if media == "auto":
        media = "video" if run.condition_scenes and has_video else "audio"
    elif media == "video" and not has_video:
        raise UsageError(
            "--media video needs scenes/<condition>/<sample>.mp4 for every condition and sample",
            run.root / "scenes",
            "mux the scene video with each condition's audio, or use --media audio",
        )

    usable = {s.id for s in run.samples if all(s.id in run.conditions[c] for c in conditions)}
    samples = _select_samples(run, design, usable, rng, notes)
    order = [samples[i] for i in rng.permutation(len(samples))] if samples else []

    # -- clips: processed (or copied) under opaque names
    out_dir.mkdir(parents=True, exist_ok=True)
    media_dir = out_dir / MEDIA_DIR
    media_dir.mkdir(exist_ok=True)
    clips: dict[tuple[str, str], str] = {}
    audio_cache: dict[tuple[str, str], tuple[np.ndarray, int]] = {}
    clip_rows: list[dict[str, Any]] = []
    dropped: set[str] = set()

    def new_name(ext: str) -> str:
        return f"c{rng.bytes(8).hex()}{ext}"

    from tqdm import tqdm

    for sid in tqdm(order, desc="survey clips", unit="sample", disable=None, leave=False):
        for cond in conditions:
            src = run.condition_scenes[(cond, sid)] if media == "video" else run.conditions[cond][sid]
            name = new_name(src.suffix.lower() if (media == "video" or loudness == "none") else ".wav")
            try:
                if media == "video" or loudness == "none":
                    shutil.copyfile(src, media_dir / name)
                    processing = "copied unchanged"
                    seconds = None
                    if media == "audio":
                        x, sr = load_audio(src)  # validates the clip
                        seconds = round(len(x) / sr, 4)
                else:
                    x, sr = _process_audio(src, loudness)
                    audio_cache[(cond, sid)] = (x, sr)
                    write_wav(media_dir / name, x, sr)
                    processing = (
                        f"mono, DC removed, {'RMS -20 dBFS (peak <= -1 dBFS)' if loudness == 'rms' else 'peak -1 dBFS'}"
                        f", 16-bit WAV at {sr} Hz"
                    )
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
                if media == "video" or loudness == "none":
                    x, sr = load_audio(run.conditions[cond][sid])
                else:
                    x, sr = audio_cache[(cond, sid)]
                bad = new_name(".wav")
                write_wav(media_dir / bad, add_defect(x, sr, rng), sr)
                clip_rows.append(
                    {
                        "file": f"{MEDIA_DIR}/{bad}",
                        "sha256": sha256_file(media_dir / bad),
                        "seconds": round(len(x) / sr, 4),
                        "sample": sid,
                        "condition": f"{cond}+defect",
                        "source": run.conditions[cond][sid].relative_to(run.root).as_posix(),
                        "source_sha256": sha256_file(run.conditions[cond][sid]),
                        "processing": "attention check: the clean clip with a loud noise burst",
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

    keep = {r["file"].split("/", 1)[1] for r in clip_rows}
    _clean_media(media_dir, keep)
    batch_cols = ["task_id"] + [f"pair{k}_{s}" for k in range(1, n_items + 1) for s in ("a", "b")]
    atomic_write_csv(out_dir / "batch.csv", batch_rows, batch_cols)
    atomic_write_text(out_dir / "hit.html", render_page(design, n_items, media))
    atomic_write_csv(out_dir / "answer_key.csv", key_rows, KEY_COLUMNS)

    by_emotion = {e: sum(1 for s in order if emotion[s] == e) for e in EMOTIONS}
    durations = {r["file"]: r["seconds"] for r in clip_rows}
    task_seconds = [
        sum(
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
        "files": {name: sha256_file(out_dir / name) for name in ("batch.csv", "hit.html", "answer_key.csv")},
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
