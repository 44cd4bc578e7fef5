"""Reports: render a run's result files as HTML (one file), Markdown and LaTeX.

A report is built from RESULT FILES ONLY (`s2w-eval pam`, `chords`, `survey aggregate` outputs in
`reports/<run>/`): it never re-scores anything. The few derived numbers (an accuracy and its Wilson CI when
`chords.json` does not hold them) are computed from the per-item rows and say so. Audio is read only for the
figures and players, from the run folder the result files record (or one given by the caller).

- `loading`: reading and checking the result files (`load_results`, `resolve_inputs`);
- `sections`: PAM, chords, survey, audio and provenance sections; `verdicts`: validity boxes, cautions and
  whether the measures agree; `build`: `build_report(results)` and `build_comparison([...])`;
- `tables`: the one table model (`Table`) and renderer (`render_table`) for console and report formats;
- `figures`: every chart (report figures and the survey's charts); `render`: HTML/Markdown/LaTeX output.
"""

from .build import build_comparison, build_report
from .loading import RESULT_FILES, RunResults, SourceFile, load_results, normalise_label, resolve_inputs
from .model import Audio, Box, Figure, Report, Section
from .render import FORMATS, render_html, render_latex, render_markdown, write_report
from .tables import TABLE_FORMATS, Table, render_table, tex_escape

__all__ = [
    "FORMATS",
    "RESULT_FILES",
    "TABLE_FORMATS",
    "Audio",
    "Box",
    "Figure",
    "Report",
    "RunResults",
    "Section",
    "SourceFile",
    "Table",
    "build_comparison",
    "build_report",
    "load_results",
    "normalise_label",
    "render_html",
    "render_latex",
    "render_markdown",
    "render_table",
    "resolve_inputs",
    "tex_escape",
    "write_report",
]
