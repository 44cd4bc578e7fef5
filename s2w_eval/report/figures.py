"""Every chart s2w draws: the report's figures and the survey's preference charts, in one module.

- `sample_figure`: waveform + spectrogram per condition of one sample (paper Figs. 7-8 shape); every
  spectrogram panel of every figure uses one colour scale, dB relative to a full-scale sine (dBFS), with
  a colour bar, so a near-silent clip looks dark and a loud one bright;
- `pam_distribution_figure`: per condition a box and the per-sample points of one distance, with the mean
  and its bootstrap CI (whiskers) from the summary;
- `survey_pair_figure`: the shares of one AB pair per sample and pooled, with Wilson CI whiskers;
- `plot_preferences`: the survey's own charts (`s2w-eval survey aggregate`), in the style of the paper's
  Figs. 9-10, as PNG and SVG.

matplotlib (Agg) is imported inside each function: importing this module costs nothing.
"""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any

from ..errors import DataError, Problem
from .tables import num

DB_FLOOR = -100.0  # dBFS at the bottom of every spectrogram's colour scale
DB_CEIL = 0.0  # a full-scale sine


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> bytes:
    plt = _pyplot()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def _text(text: str) -> str:
    """Plain text for matplotlib (no mathtext from a '$' in a sample id)."""
    return str(text).replace("$", r"\$")


# ------------------------------------------------------------------------------------------ report figures


def survey_pair_figure(
    first: str, second: str, rows: list[dict[str, str]], labels: list[str], level: str = "95%"
) -> bytes | None:
    """Stacked bars (prefer first / no preference / prefer second) per row, labelled `labels`, with the
    Wilson CI of the first share (preferences.csv ci_low/ci_high) as a whisker at the end of its bar."""
    if not rows:
        return None
    plt = _pyplot()
    a = [(num(r.get("first_share")) or 0.0) for r in rows]
    none = [(num(r.get("none_share")) or 0.0) for r in rows]
    b = [(num(r.get("second_share")) or 0.0) for r in rows]
    fig, ax = plt.subplots(figsize=(7, 0.32 * len(rows) + 1.4), dpi=80)
    y = list(range(len(rows)))
    ax.barh(y, a, color="#3b75af", label=f"prefer {_text(first)}")
    ax.barh(y, none, left=a, color="#bbbbbb", label="no preference")
    ax.barh(y, b, left=[x + n for x, n in zip(a, none)], color="#ef8636", label=f"prefer {_text(second)}")
    for yi, r, share in zip(y, rows, a):
        lo, hi = num(r.get("ci_low")), num(r.get("ci_high"))
        if lo is not None and hi is not None:
            ax.errorbar(
                share,
                yi,
                xerr=[[max(0.0, share - lo)], [max(0.0, hi - share)]],
                fmt="none",
                ecolor="black",
                elinewidth=1.0,
                capsize=3,
            )
    ax.set_yticks(y, [_text(s) for s in labels])
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.axvline(0.5, color="k", lw=0.6, ls=":")
    ax.set_xlabel(f"share of raters (whiskers: Wilson {level} CI of the share preferring {_text(first)})")
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=3, fontsize=8, frameon=False)
    fig.tight_layout()
    return _png(fig)


def pam_distribution_figure(metric: str, ms: dict[str, Any], rows: list[dict[str, str]]) -> bytes | None:
    """Box + strip plot of the per-sample distances of each condition, the mean and its bootstrap CI."""
    conds = list(ms.get("conditions") or {})
    data = [
        [v for r in rows if r.get("condition") == c and (v := num(r.get("distance"))) is not None]
        for c in conds
    ]
    if not any(data):
        return None
    import numpy as np

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(1.6 * len(conds) + 2.2, 3.4), dpi=80)
    pos = list(range(1, len(conds) + 1))
    ax.boxplot(
        [d if d else [math.nan] for d in data],
        positions=pos,
        widths=0.5,
        showfliers=False,
        medianprops={"color": "#ef8636"},
    )
    rng = np.random.default_rng(0)  # fixed jitter: the same figure on every run
    for p, d in zip(pos, data):
        ax.scatter(p + rng.uniform(-0.12, 0.12, len(d)), d, s=14, color="#3b75af", alpha=0.8, zorder=3)
    for p, c in zip(pos, conds):
        d = ms["conditions"][c]
        mean, lo, hi = num(d.get("mean")), num(d.get("ci95_low")), num(d.get("ci95_high"))
        if mean is None:
            continue
        err = [[mean - lo], [hi - mean]] if lo is not None and hi is not None else None
        ax.errorbar(p + 0.32, mean, yerr=err, fmt="o", color="black", ms=4, capsize=4, zorder=4)
    ax.set_xticks(pos, [_text(c) for c in conds])
    ax.set_xlim(0.4, len(conds) + 0.8)
    ax.set_ylabel(f"{_text(metric)} distance (lower is closer)", fontsize=8)
    ax.set_title(f"{_text(metric)}: per-sample distances, mean and bootstrap CI", fontsize=9)
    ax.tick_params(labelsize=8)
    fig.tight_layout()
    return _png(fig)


def _load_clips(clips: list[tuple[str, Path | None]], problems: list[Problem]):
    from ..io.audio import load_audio

    loaded = []
    for cond, path in clips:
        if path is None:
            loaded.append((cond, None, None))
            continue
        try:
            x, sr = load_audio(path)
        except DataError as exc:
            problems.append(Problem.from_error(exc))
            loaded.append((cond, None, None))
            continue
        loaded.append((cond, x, sr))
    return loaded


def spectrogram_dbfs(x, sr: int):
    """(frequencies Hz, times s, dBFS) of a clip: scipy's STFT scales a sine of amplitude A to |Z| = A/2, so
    20 log10(2 |Z|) is 0 dB for a full-scale sine whatever the clip, the same scale for every clip."""
    import numpy as np
    from scipy import signal

    nper = 512 if sr > 20000 else 256
    f, tt, z = signal.stft(x, fs=sr, nperseg=min(nper, x.size), noverlap=None)
    return f, tt, 20 * np.log10(2 * np.abs(z) + 1e-12)


def sample_figure(
    sample: str, emotion: str, clips: list[tuple[str, Path | None]], problems: list[Problem]
) -> bytes | None:
    """Waveform (top) and spectrogram (bottom) per condition; one dBFS colour scale and its colour bar."""
    import numpy as np

    loaded = _load_clips(clips, problems)
    if all(x is None for _, x, _ in loaded):
        return None
    plt = _pyplot()
    n = len(loaded)
    # constrained layout leaves room for the colour bar (tight_layout does not know it)
    fig, axes = plt.subplots(2, n, figsize=(3.2 * n + 0.8, 4.2), dpi=72, squeeze=False, layout="constrained")
    mesh = None
    for j, (cond, x, sr) in enumerate(loaded):
        ax_w, ax_s = axes[0][j], axes[1][j]
        ax_w.set_title(_text(cond), fontsize=10)
        if x is None:
            for ax in (ax_w, ax_s):
                ax.text(0.5, 0.5, "missing", ha="center", va="center", transform=ax.transAxes)
                ax.set_axis_off()
            continue
        t = np.arange(x.size) / sr
        step = max(1, x.size // 4000)
        ax_w.plot(t[::step], x[::step], lw=0.5, color="#3b75af")
        ax_w.set_xlim(0, t[-1] if t.size else 1)
        ax_w.set_ylim(-1.05, 1.05)
        ax_w.tick_params(labelsize=7)
        f, tt, db = spectrogram_dbfs(x, sr)
        keep = f <= min(8000.0, sr / 2)
        mesh = ax_s.pcolormesh(
            tt,
            f[keep] / 1000.0,
            db[keep],
            shading="auto",
            vmin=DB_FLOOR,
            vmax=DB_CEIL,
            cmap="magma",
            rasterized=True,
        )
        ax_s.set_xlabel("time (s)", fontsize=8)
        ax_s.tick_params(labelsize=7)
        if j == 0:
            ax_w.set_ylabel("amplitude", fontsize=8)
            ax_s.set_ylabel("kHz", fontsize=8)
    fig.suptitle(f"{_text(sample)} ({_text(emotion)})", fontsize=11)
    if mesh is not None:
        bar = fig.colorbar(mesh, ax=list(axes[1]), fraction=0.03, pad=0.01)
        bar.set_label("dBFS", fontsize=8)
        bar.ax.tick_params(labelsize=7)
    return _png(fig)


# ------------------------------------------------------------------------------------------ survey charts

SHORT = {"scene2wav": "P", "baseline": "B", "target": "O"}  # the paper's letters
PALETTE = {"scene2wav": "#1f77b4", "baseline": "#ff7f0e", "target": "#2ca02c"}
EXTRA = ("#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f")
NONE_COLOUR = "#c8c8c8"


_label = _text


def _colours(conditions: list[str]) -> dict[str, str]:
    out = {}
    extra = iter(EXTRA * 4)
    for c in conditions:
        out[c] = PALETTE.get(c) or next(extra)
    return out


def _short(c: str) -> str:
    return SHORT.get(c, c[:10])


def _chart(ax, rows: list[dict[str, Any]], colours: dict[str, str], title: str) -> None:
    for y, r in enumerate(rows):
        f = 0.0 if math.isnan(r["first_share"]) else r["first_share"]
        z = 0.0 if math.isnan(r["none_share"]) else r["none_share"]
        s = 0.0 if math.isnan(r["second_share"]) else r["second_share"]
        ax.barh(y, f * 100, color=colours.get(r["first"], "#555"), height=0.7)
        ax.barh(y, z * 100, left=f * 100, color=NONE_COLOUR, height=0.7)
        ax.barh(y, s * 100, left=(f + z) * 100, color=colours.get(r["second"], "#555"), height=0.7)
        if f > 0.12:
            ax.text(f * 50, y, f"{f * 100:.0f}", ha="center", va="center", fontsize=6, color="white")
        if s > 0.12:
            ax.text(
                (f + z + s / 2) * 100,
                y,
                f"{s * 100:.0f}",
                ha="center",
                va="center",
                fontsize=6,
                color="white",
            )
        lo, hi = num(r.get("ci_low")), num(r.get("ci_high"))
        if lo is not None and hi is not None:  # Wilson CI of the share preferring the first
            ax.errorbar(
                f * 100,
                y,
                xerr=[[max(0.0, f - lo) * 100], [max(0.0, hi - f) * 100]],
                fmt="none",
                ecolor="black",
                elinewidth=0.8,
                capsize=2,
            )
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels(
        [f"{_label(_short(r['first']))}-{_label(_short(r['second']))}" for r in rows], fontsize=7
    )
    ax.set_xlim(0, 100)
    ax.axvline(50, color="black", lw=0.5, ls=":")
    ax.invert_yaxis()
    ax.tick_params(axis="x", labelsize=6)
    n = max((r["n"] for r in rows), default=0)
    ax.set_title(f"{_label(title)} (n={n})", fontsize=8)


def plot_preferences(prefs: list[dict[str, Any]], out_dir: str | Path, conditions: list[str]) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    colours = _colours(conditions)
    groups: dict[str, list[str]] = {}
    for r in prefs:
        key = f"all-{r['emotion']}" if r["sample"] == "all" else r["emotion"]
        groups.setdefault(key, [])
        label = r["sample"] if r["sample"] != "all" else r["emotion"]
        if label not in groups[key]:
            groups[key].append(label)
    figures: list[tuple[str, list[tuple[str, list[dict[str, Any]]]]]] = []
    for emotion in [g for g in groups if not g.startswith("all-")]:
        charts = [
            (s, [r for r in prefs if r["sample"] == s and r["emotion"] == emotion]) for s in groups[emotion]
        ]
        figures.append((f"preferences_{emotion}", charts))
    pooled = [
        (e, [r for r in prefs if r["sample"] == "all" and r["emotion"] == e])
        for e in [g[4:] for g in groups if g.startswith("all-")]
    ]
    if pooled:
        figures.append(
            ("preferences_all", [("all samples" if e == "all" else f"all {e}", rows) for e, rows in pooled])
        )
    files: list[Path] = []
    legend = [Patch(color=colours[c], label=f"{_label(_short(c))} = {_label(c)}") for c in conditions]
    legend.append(Patch(color=NONE_COLOUR, label="no preference"))
    with plt.rc_context({"svg.hashsalt": "s2w", "font.size": 8}):
        for name, charts in figures:
            if not charts:
                continue
            ncols = min(5, len(charts))
            nrows = math.ceil(len(charts) / ncols)
            fig, axes = plt.subplots(
                nrows, ncols, figsize=(2.3 * ncols, 0.35 + 1.1 * nrows + 0.5), squeeze=False
            )
            for ax in axes.flat[len(charts) :]:
                ax.axis("off")
            for ax, (title, rows) in zip(axes.flat, charts):
                _chart(ax, rows, colours, title)
            fig.suptitle(f"Preference (%) per pair: {name.split('_', 1)[1]}", fontsize=9)
            fig.legend(handles=legend, loc="lower center", ncol=len(legend), fontsize=7, frameon=False)
            fig.tight_layout(rect=(0, 0.08, 1, 0.95))
            for ext, meta in (("png", {"Software": None}), ("svg", {"Date": None})):
                path = out_dir / f"{name}.{ext}"
                tmp = path.with_name(f".{path.name}.tmp")
                fig.savefig(tmp, format=ext, dpi=150, metadata=meta)
                tmp.replace(path)
                files.append(path)
            plt.close(fig)
    return files
