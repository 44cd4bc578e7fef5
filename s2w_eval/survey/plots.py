"""Preference charts in the style of the paper's Figs. 9-10: one small chart per sample with its pairs.

Each pair is one horizontal bar split into the share preferring the first condition, no preference (grey)
and the share preferring the second. One figure per emotion plus one for the pooled rows; PNG and SVG.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

SHORT = {"scene2wav": "P", "baseline": "B", "target": "O"}  # the paper's letters
PALETTE = {"scene2wav": "#1f77b4", "baseline": "#ff7f0e", "target": "#2ca02c"}
EXTRA = ("#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f")
NONE_COLOUR = "#c8c8c8"


def _label(text: str) -> str:
    """Plain text for matplotlib (no mathtext from a '$' in a sample id)."""
    return text.replace("$", r"\$")


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
