"""The one table model of s2w and its one renderer, for the console and for every report format.

`Table` holds strings already formatted (numbers with their digits: a table shows what a paper prints) plus
what each format needs to show them well: cells in bold, the source of the numbers, a note, a caution, a
per-column alignment (numbers right-aligned on the decimal point) and a LaTeX label.

`render_table(table, fmt)` renders it as
- console formats: `github`, `plain`, `simple` (tabulate), `csv`, `json`;
- report formats: `md` (GitHub Markdown), `html` (a <table> with caption), `tex` (booktabs, caption, label).

Importable without torch, numpy or matplotlib (tabulate is the only dependency, imported lazily).
"""

from __future__ import annotations

import csv
import html
import io
import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

CONSOLE_FORMATS = ("github", "plain", "simple", "csv", "json")
REPORT_FORMATS = ("md", "html", "tex")
TABLE_FORMATS = CONSOLE_FORMATS + REPORT_FORMATS

# A cell that reads as one number: an optional comparison sign, digits, an optional fraction and percent.
_NUMBER = re.compile(r"^(?P<sign>[<>]?[-+]?)(?P<int>\d+)(?P<frac>\.\d+)?(?P<pct>%?)$")
_MISSING = ("", "n/a", "nan", "-")


@dataclass
class Table:
    title: str
    headers: list[str]
    rows: list[list[str]]
    bold: set[tuple[int, int]] = field(default_factory=set)  # (row, column) cells to emphasise
    source: str = ""  # where the numbers come from
    note: str = ""
    # per column "l" (text) or "d" (a number: right-aligned on the decimal point); None = inferred from cells
    align: list[str] | None = None
    label: str = ""  # LaTeX \label key (tab:<label>); empty = made from the title
    caution: str = ""  # shown beside the table, e.g. when a compared condition failed a validity check
    conditions: list[str] = field(default_factory=list)  # the conditions the table compares (for cautions)

    def column_align(self) -> list[str]:
        if self.align is not None:
            if len(self.align) != len(self.headers):
                raise ValueError(
                    f"table {self.title!r}: {len(self.align)} alignments for {len(self.headers)} columns"
                )
            return list(self.align)
        out = []
        for j in range(len(self.headers)):
            cells = [str(r[j]).strip() for r in self.rows if j < len(r)]
            cells = [c for c in cells if c.lower() not in _MISSING]
            out.append("d" if cells and all(_NUMBER.match(c) for c in cells) else "l")
        return out


# ------------------------------------------------------------------------------------------ cell formatting


def num(v: Any) -> float | None:
    """A finite float, or None (missing, non-numeric, NaN or infinite)."""
    if isinstance(v, bool):
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def fmt_float(v: Any, digits: int = 4) -> str:
    f = num(v)
    return "n/a" if f is None else f"{f:.{digits}f}"


def fmt_p(v: Any) -> str:
    f = num(v)
    if f is None:
        return "n/a"
    return "<0.0001" if f < 1e-4 else f"{f:.4f}"


def fmt_ci(lo: Any, hi: Any, digits: int = 4) -> str:
    if num(lo) is None or num(hi) is None:
        return "n/a"
    return f"[{fmt_float(lo, digits)}, {fmt_float(hi, digits)}]"


def fmt_pct(v: Any) -> str:
    f = num(v)
    return "n/a" if f is None else f"{100 * f:.1f}%"


# ------------------------------------------------------------------------------------------ escaping


def md_text(text: Any) -> str:
    """Markdown prose: '&' and '<' HTML-escaped so that an id holding `<script>` shows as text, never as
    markup ('>' stays: without a '<' it opens no tag, and "a > b" stays readable in the raw file)."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;")


def md_cell(text: Any) -> str:
    """A Markdown table cell: HTML-escaped, pipes, `*` and backticks escaped, on one line ('_' stays: GitHub
    never reads an underscore inside a word as emphasis, and ids like label_weighted stay greppable)."""
    out = md_text(text).replace("\\", "\\\\").replace("|", "\\|")
    for ch in "*`":
        out = out.replace(ch, "\\" + ch)
    return out.replace("\r", " ").replace("\n", " ")


_TEX_ESCAPE = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
}


def tex_escape(text: Any) -> str:
    return "".join(_TEX_ESCAPE.get(ch, ch) for ch in str(text)).replace("\r", " ").replace("\n", " ")


def tex_label(text: str) -> str:
    """A LaTeX label key: lower-case letters, digits and '-' (safe with and without hyperref)."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60] or "table"


# ------------------------------------------------------------------------------------------ rendering


def render_table(table: Table, fmt: str, *, label: str | None = None) -> str:
    """`table` in format `fmt` (see TABLE_FORMATS); `label` overrides the LaTeX label (tab:<label>).

    Console formats show bold cells as `**x**` (github) or `x*` (plain, simple)."""
    if fmt in ("github", "plain", "simple"):
        mark = (lambda c: f"**{c}**") if fmt == "github" else (lambda c: f"{c}*")
        cells = [
            [mark(c) if (i, j) in table.bold and c != "" else c for j, c in enumerate(row)]
            for i, row in enumerate(table.rows)
        ]
        return _tabulate(table, fmt, cells)
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(table.headers)
        w.writerows(table.rows)
        return buf.getvalue()
    if fmt == "json":
        return json.dumps(_as_json(table), indent=2, ensure_ascii=False) + "\n"
    if fmt == "md":
        return _markdown(table)
    if fmt == "html":
        return _html(table)
    if fmt == "tex":
        return _latex(table, label or table.label or tex_label(table.title))
    raise ValueError(f"unknown table format {fmt!r}; one of {', '.join(TABLE_FORMATS)}")


def _as_json(table: Table) -> dict[str, Any]:
    out: dict[str, Any] = {
        "title": table.title,
        "headers": list(table.headers),
        "rows": [dict(zip(table.headers, row)) for row in table.rows],
    }
    for key in ("source", "note", "caution"):
        if getattr(table, key):
            out[key] = getattr(table, key)
    return out


def _tabulate(table: Table, tablefmt: str, cells: list[list[str]] | None = None, headers=None) -> str:
    from tabulate import tabulate

    align = ["right" if a == "d" else "left" for a in table.column_align()]
    return tabulate(
        cells if cells is not None else table.rows,
        headers=headers if headers is not None else table.headers,
        tablefmt=tablefmt,
        disable_numparse=True,
        colalign=align or None,
    )


def _extras(table: Table) -> list[tuple[str, str]]:
    """(kind, text) of what is shown under a table, in order: caution, note, source."""
    return [(k, getattr(table, k)) for k in ("caution", "note", "source") if getattr(table, k)]


def _markdown(table: Table) -> str:
    cells = [
        [(f"**{md_cell(c)}**" if (i, j) in table.bold and c != "" else md_cell(c)) for j, c in enumerate(row)]
        for i, row in enumerate(table.rows)
    ]
    out = [
        f"**{md_text(table.title)}**",
        "",
        _tabulate(table, "github", cells, [md_cell(h) for h in table.headers]),
        "",
    ]
    for kind, text in _extras(table):
        if kind == "caution":
            out += [f"> **Caution:** {md_text(text)}", ""]
        elif kind == "note":
            out += [md_text(text), ""]
        else:
            out += [f"_{md_text(text)}_", ""]
    return "\n".join(out)


def _html(table: Table) -> str:
    e = html.escape
    align = table.column_align()
    klass = [' class="num"' if a == "d" else "" for a in align]
    out = [
        f"<table><caption>{e(table.title)}</caption><thead><tr>"
        + "".join(f"<th{k}>{e(h)}</th>" for h, k in zip(table.headers, klass))
        + "</tr></thead><tbody>"
    ]
    for i, row in enumerate(table.rows):
        cells = []
        for j, c in enumerate(row):
            txt = e(str(c))
            k = klass[j] if j < len(klass) else ""
            cells.append(
                f"<td{k}><strong>{txt}</strong></td>" if (i, j) in table.bold else f"<td{k}>{txt}</td>"
            )
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    for kind, text in _extras(table):
        cls = {"caution": "caution", "note": "note", "source": "src"}[kind]
        prefix = "<strong>Caution:</strong> " if kind == "caution" else ""
        out.append(f'<p class="{cls}">{prefix}{e(text)}</p>')
    return "\n".join(out)


def _tex_number(cell: str, bold: bool) -> str | None:
    """A numeric cell as the two halves of an `r@{}l` column pair (integer part & fraction), or None."""
    m = _NUMBER.match(cell.strip())
    if not m:
        return None
    left = tex_escape(m["sign"] + m["int"])
    right = tex_escape((m["frac"] or "") + m["pct"])
    if bold:
        left, right = rf"\textbf{{{left}}}", (rf"\textbf{{{right}}}" if right else "")
    return f"{left} & {right}"


def _latex(table: Table, label: str) -> str:
    """booktabs; a numeric column is a pair `r@{}l` split at the decimal point, so that numbers of a column
    align on it (the dcolumn idea without the package; siunitx S columns would choke on "n/a", "<0.0001"
    and bold cells); text columns are `l`."""
    align = table.column_align()
    spec = "".join("r@{}l" if a == "d" else "l" for a in align)
    head = []
    for h, a in zip(table.headers, align):
        head.append(rf"\multicolumn{{2}}{{c}}{{{tex_escape(h)}}}" if a == "d" else tex_escape(h))
    out = [
        r"\begin{table}[htbp]",
        r"\centering\small",
        rf"\caption{{{tex_escape(table.title)}}}",
        rf"\label{{tab:{label}}}",
        r"\begin{tabular}{" + spec + "}",
        r"\toprule",
        " & ".join(head) + r" \\",
        r"\midrule",
    ]
    for i, row in enumerate(table.rows):
        cells = []
        for j, c in enumerate(row):
            bold = (i, j) in table.bold and c != ""
            if j < len(align) and align[j] == "d":
                pair = _tex_number(str(c), bold)
                cells.append(pair if pair is not None else rf"\multicolumn{{2}}{{c}}{{{tex_escape(c)}}}")
            else:
                cells.append(rf"\textbf{{{tex_escape(c)}}}" if bold else tex_escape(c))
        out.append(" & ".join(cells) + r" \\")
    out += [r"\bottomrule", r"\end{tabular}"]
    for kind, text in _extras(table):
        prefix = r"\textbf{Caution:} " if kind == "caution" else ""
        out.append(rf"\par\smallskip{{\footnotesize {prefix}{tex_escape(text)}\par}}")
    out.append(r"\end{table}")
    return "\n".join(out)
