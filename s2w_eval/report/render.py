"""Rendering a Report as HTML (one file), Markdown and LaTeX, and writing them with their figures.

Tables go through the one table renderer (`tables.render_table`); this module lays out the rest: sections,
figures, validity boxes and audio players.

Audio players (HTML): by default each <audio> links to the clip in the run folder by a path RELATIVE to the
report (the report and the run move together, nothing is copied); `embed_audio=True` puts every clip into
the page as a data: URI instead, for one self-contained file to send or archive (large: about 1.7 MB per
10 s of 44.1 kHz stereo). Markdown links the clips; LaTeX (for a paper) leaves them out.
"""

from __future__ import annotations

import base64
import html
import io
import os
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import quote

from ..results import atomic_write_bytes, atomic_write_json, atomic_write_text, provenance
from .model import Audio, Box, Figure, Report
from .tables import Table, md_text, render_table, tex_escape, tex_label

FORMATS = ("html", "md", "tex")
AUDIO_TYPES = {
    ".wav": "audio/wav",
    ".mp3": "audio/mpeg",
    ".flac": "audio/flac",
    ".ogg": "audio/ogg",
    ".oga": "audio/ogg",
    ".opus": "audio/ogg",
    ".m4a": "audio/mp4",
    ".aac": "audio/aac",
}

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;max-width:1200px;
padding:0 1em;color:#222;line-height:1.4}
h1{font-size:1.6em}h2{font-size:1.25em;border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;margin:.6em 0;font-size:.88em}
th,td{border:1px solid #ccc;padding:.25em .55em;text-align:left;vertical-align:top}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
th{background:#f3f3f3}caption{text-align:left;font-weight:600;padding:.3em 0;white-space:nowrap}
.src{color:#666;font-size:.8em;margin:.1em 0 1.2em}.note{color:#444;font-size:.85em}
.caution{color:#8a4b00;background:#fff6e5;border-left:3px solid #e69500;padding:.2em .5em;font-size:.85em}
figure{margin:1em 0}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.85em;color:#555}.problem{color:#a00}
.boxes{display:flex;flex-wrap:wrap;gap:.6em;margin:.6em 0}
.box{border:1px solid #9c9;background:#f3fbf3;border-radius:4px;padding:.4em .7em;min-width:14em;max-width:36em}
.box.warn{border-color:#e69500;background:#fff6e5}.box ul{margin:.2em 0;padding-left:1.2em}
.players{display:flex;flex-wrap:wrap;gap:.8em;margin:.3em 0 1.5em}
.players figure{margin:0}.players figcaption{font-weight:600}.players audio{width:15em}
"""


# WAV encodings browsers decode (Chromium, Firefox, Safari); the published Scene2Wav targets include 64-bit
# float WAVs, which none of them plays: those clips get a 32-bit float copy (same samples, no clipping).
BROWSER_WAV_SUBTYPES = {"PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT"}
COPY_DIR = "audio"  # copies of clips browsers cannot play, next to the report


def browser_copy(path: Path) -> bytes | None:
    """A browser-playable WAV (32-bit float) of `path` when browsers cannot play the file as it is, else None."""
    import soundfile as sf

    suffix = path.suffix.lower()
    if suffix in AUDIO_TYPES and suffix != ".wav":
        return None
    try:
        info = sf.info(str(path))
        if info.format == "WAV" and info.subtype in BROWSER_WAV_SUBTYPES:
            return None
        x, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except (RuntimeError, sf.LibsndfileError):  # unreadable here: link it as it is, the player says so
        return None
    buf = io.BytesIO()
    sf.write(buf, x, sr, format="WAV", subtype="FLOAT")
    return buf.getvalue()


def _relative(path: Path, base: Path | None) -> str:
    rel = os.path.relpath(Path(path).resolve(), (base or Path.cwd()).resolve())
    return quote(rel.replace(os.sep, "/"))


def audio_sources(
    report: Report, out_dir: Path | None, embed: bool, link_from: Path | None = None
) -> tuple[dict[Path, str], list[Path]]:
    """The src of every clip's player and the copies written. Embedded: a data: URI. Linked: a path
    relative to `link_from` (default out_dir, else the working folder). A clip browsers cannot play is
    converted: embedded as the copy, or written to out_dir/audio/ and linked there (when out_dir is None,
    nothing is written and the original is linked)."""
    from ..names import safe_stem

    srcs: dict[Path, str] = {}
    copies: list[Path] = []
    base = link_from or out_dir
    for b in (b for sec in report.sections for b in sec.blocks if isinstance(b, Audio)):
        for cond, path in b.clips:
            if path is None or path in srcs:
                continue
            copy = browser_copy(path)
            if embed:
                mime = (
                    "audio/wav" if copy else AUDIO_TYPES.get(path.suffix.lower(), "application/octet-stream")
                )
                data = copy if copy else path.read_bytes()
                srcs[path] = f"data:{mime};base64," + base64.b64encode(data).decode("ascii")
                continue
            target = path
            if copy is not None and out_dir is not None:
                target = out_dir / COPY_DIR / safe_stem(cond, 60) / f"{safe_stem(path.stem, 100)}.wav"
                atomic_write_bytes(target, copy)
                copies.append(target)
            srcs[path] = _relative(target, base)
    return srcs, copies


def _html_audio(b: Audio, srcs: dict[Path, str]) -> str:
    e = html.escape
    out = [f'<div class="players" aria-label="{e(b.sample)}">']
    for cond, path in b.clips:
        if path is None:
            out.append(f"<figure><figcaption>{e(cond)}</figcaption><em>missing</em></figure>")
            continue
        out.append(
            f"<figure><figcaption>{e(cond)}</figcaption>"
            f'<audio controls preload="metadata" src="{e(srcs[path])}" '
            f'title="{e(b.sample)}: {e(cond)}"></audio></figure>'
        )
    return f"<p><strong>{e(b.sample)}</strong></p>" + "".join(out) + "</div>"


def _html_block(b, sec_title: str, srcs: dict[Path, str]) -> str:
    e = html.escape
    if isinstance(b, Table):
        return render_table(b, "html")
    if isinstance(b, Figure):
        data = base64.b64encode(b.png).decode("ascii")
        return (
            f'<figure><img alt="{e(b.title)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{e(b.title)}. {e(b.caption)}</figcaption></figure>"
        )
    if isinstance(b, Audio):
        return _html_audio(b, srcs)
    if isinstance(b, Box):
        items = "".join(f"<li>{e(line)}</li>" for line in b.lines)
        return f'<div class="box {e(b.level)}"><strong>{e(b.title)}</strong><ul>{items}</ul></div>'
    cls = ' class="problem"' if sec_title == "Problems" else ""
    return f"<p{cls}>{e(str(b))}</p>"


def render_html(
    report: Report,
    *,
    out_dir: str | Path | None = None,
    embed_audio: bool = False,
    audio_src: dict[Path, str] | None = None,
) -> str:
    """One HTML file: figures inline; audio linked relative to `out_dir` (where the file goes; default the
    working folder) or, with embed_audio, inline too; `audio_src` (from audio_sources) overrides both."""
    e = html.escape
    out_dir = Path(out_dir) if out_dir is not None else None
    if audio_src is None:
        audio_src = audio_sources(report, None, embed_audio, link_from=out_dir)[0]
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<link rel="icon" href="data:,">',
        f"<title>{e(report.title)}</title>",
        f"<style>{_CSS}</style>",
        "</head><body>",
        f"<h1>{e(report.title)}</h1>",
    ]
    for sec in report.sections:
        out.append(f"<section><h2>{e(sec.title)}</h2>")
        in_boxes = False
        for b in sec.blocks:
            if isinstance(b, Box) != in_boxes:  # consecutive boxes sit side by side
                out.append('<div class="boxes">' if not in_boxes else "</div>")
                in_boxes = not in_boxes
            out.append(_html_block(b, sec.title, audio_src))
        if in_boxes:
            out.append("</div>")
        out.append("</section>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def _md_audio(b: Audio, out_dir: Path | None) -> str:
    links = []
    for cond, path in b.clips:
        links.append(
            f"{md_text(cond)}: missing" if path is None else f"[{md_text(cond)}]({_relative(path, out_dir)})"
        )
    return f"Listen to {md_text(b.sample)}: " + " · ".join(links)


def render_markdown(report: Report, figure_dir: str = "figures", *, out_dir: str | Path | None = None) -> str:
    out = [f"# {md_text(report.title)}", ""]
    out_dir = Path(out_dir) if out_dir is not None else None
    for sec in report.sections:
        out += [f"## {md_text(sec.title)}", ""]
        for b in sec.blocks:
            if isinstance(b, Table):
                out += [render_table(b, "md")]
            elif isinstance(b, Figure):
                out += [
                    f"![{md_text(b.title)}]({figure_dir}/{b.name})",
                    "",
                    f"_{md_text(b.title)}. {md_text(b.caption)}_",
                    "",
                ]
            elif isinstance(b, Audio):
                out += [_md_audio(b, out_dir), ""]
            elif isinstance(b, Box):
                mark = "Warning" if b.level == "warn" else "OK"
                out += [f"> **{md_text(b.title)}** ({mark}): " + "; ".join(md_text(x) for x in b.lines), ""]
            else:
                out += [("- " if sec.title == "Problems" else "") + md_text(str(b)), ""]
    return "\n".join(out).rstrip() + "\n"


def render_latex(report: Report, figure_dir: str = "figures") -> str:
    """A standalone LaTeX document (booktabs tables with caption and label, figures by file); copy the
    tables into a paper. Audio players are left out."""
    out = [
        r"\documentclass{article}",
        r"\usepackage[margin=2cm,landscape]{geometry}",
        r"\usepackage[T1]{fontenc}",
        r"\usepackage{lmodern}",
        r"\usepackage{booktabs}",
        r"\usepackage{graphicx}",
        r"\begin{document}",
        rf"\section*{{{tex_escape(report.title)}}}",
    ]
    labels: dict[str, int] = {}
    for sec in report.sections:
        out.append(rf"\subsection*{{{tex_escape(sec.title)}}}")
        for b in sec.blocks:
            if isinstance(b, Table):
                label = b.label or tex_label(b.title)
                labels[label] = labels.get(label, 0) + 1
                out.append(
                    render_table(b, "tex", label=label if labels[label] == 1 else f"{label}-{labels[label]}")
                )
            elif isinstance(b, Figure):
                out += [
                    r"\begin{figure}[htbp]",
                    r"\centering",
                    rf"\includegraphics[width=0.9\linewidth]{{{figure_dir}/{b.name}}}",
                    rf"\caption{{{tex_escape(b.title + '. ' + b.caption)}}}",
                    rf"\label{{fig:{tex_label(b.name.rsplit('.', 1)[0])}}}",
                    r"\end{figure}",
                ]
            elif isinstance(b, Box):
                lines = r"\\ ".join(tex_escape(x) for x in b.lines)
                out += [
                    r"\noindent\fbox{\parbox{0.95\linewidth}{"
                    + rf"\textbf{{{tex_escape(b.title)}}}\\ {lines}"
                    + "}}",
                    r"\smallskip",
                    "",
                ]
            elif isinstance(b, Audio):
                continue
            else:
                out += [tex_escape(str(b)), ""]
        out.append(r"\clearpage" if sec.title.startswith("Listening") else "")
    out.append(r"\end{document}")
    return "\n".join(out) + "\n"


def write_report(
    report: Report,
    figures: Sequence[Figure],
    out_dir: str | Path,
    formats: Sequence[str] = FORMATS,
    *,
    embed_audio: bool = False,
) -> dict[str, Path]:
    """Write report.<ext> for each format (and figures/ for md/tex) into out_dir; return the paths."""
    out_dir = Path(out_dir)
    written: dict[str, Path] = {}
    if figures and any(f in ("md", "tex") for f in formats):
        for fig in figures:
            atomic_write_bytes(out_dir / "figures" / fig.name, fig.png)
    copies: list[Path] = []
    for fmt in formats:
        if fmt == "html":
            srcs, copies = audio_sources(report, out_dir, embed_audio)
            text = render_html(report, out_dir=out_dir, embed_audio=embed_audio, audio_src=srcs)
        elif fmt == "md":
            text = render_markdown(report, out_dir=out_dir)
        elif fmt == "tex":
            text = render_latex(report)
        else:
            raise ValueError(fmt)
        written[fmt] = atomic_write_text(out_dir / f"report.{fmt}", text)
    meta = {
        "title": report.title,
        "formats": sorted(written),
        "figures": [f.name for f in figures],
        "embed_audio": bool(embed_audio),
        "audio_copies": [p.relative_to(out_dir).as_posix() for p in copies],
        "problems": [p.format() for p in report.problems],
        "provenance": provenance(command="s2w-eval report"),
    }
    atomic_write_json(out_dir / "report.json", meta)
    return written
