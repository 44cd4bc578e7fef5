"""The task page: a layout fragment (Requester-UI shape) and the full page s2w serves or sends as HTMLQuestion.

Two routes to Mechanical Turk, and one layout for both:
- Requester UI (and Turkle, which copies it): upload `layout.html` as the project's layout and `batch.csv`
  as the batch. The platform wraps the layout in its own `<form>` (posting to its own endpoint, with
  `assignmentId` and a Submit button) and fills the `${column}` placeholders from each batch row.
- API: `survey publish` sends one HTMLQuestion per batch row: `hit.html` (the layout inside the same form
  the Requester UI adds) with the row's values filled in, HTML-escaped.

The fragment holds no `<form>` and no Submit button: it finds the form that wraps it and refuses a submit
until every item is answered.
"""

from __future__ import annotations

import html
import re
from importlib import resources
from typing import Any

from ..errors import DataError
from .design import SurveyDesign

PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_]+)\}")
HTMLQUESTION_NS = (
    "http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/2011-11-11/HTMLQuestion.xsd"
)
MTURK_SUBMIT = "https://www.mturk.com/mturk/externalSubmit"

# The page the Requester UI builds around a layout, and that s2w sends as HTMLQuestion or serves in preview:
# a form posting to turkSubmitTo + /mturk/externalSubmit (MTurk's hosts or the page's own origin only),
# carrying assignmentId, with MTurk's Submit button id.
_WRAPPER = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>body {{ margin: 0; padding: 1rem; }}
#submitButton {{ display: block; width: 100%; max-width: 48rem; margin: 1rem auto; padding: 0.6rem;
  border-radius: 6px; background: #0b5cad; color: #fff; border: none; font-size: 1.15rem; }}
#submitButton:disabled {{ background: #999; }}</style>
</head>
<body>
<form id="mturk_form" name="mturk_form" method="post" action="{action}">
<input type="hidden" id="assignmentId" name="assignmentId" value="">
{layout}
<input type="submit" id="submitButton" value="Submit">
</form>
<script>
(function () {{
  "use strict";
  var params = new URLSearchParams(window.location.search);
  document.getElementById("assignmentId").value = params.get("assignmentId") || "";
  var submitTo = params.get("turkSubmitTo") || "";
  if (/^https:\\/\\/(www|workersandbox)\\.mturk\\.com\\/?$/.test(submitTo) || submitTo === window.location.origin) {{
    document.getElementById("mturk_form").action = submitTo.replace(/\\/$/, "") + "/mturk/externalSubmit";
  }}
}})();
</script>
</body>
</html>
"""


def layout_template() -> str:
    return resources.files("s2w_eval.survey").joinpath("layout.html").read_text(encoding="utf-8")


def default_instructions(design: SurveyDesign, n_items: int, media: str) -> str:
    what = "film scenes with music" if media == "video" else "music clips"
    hp = (
        f"First, a short headphone check ({design.headphone_trials} trials): each plays three tones once; "
        f"say which tone is the quietest. "
        if design.headphone_trials
        else ""
    )
    practice = "Then one practice pair (not scored) shows how the task works. " if design.practice else ""
    return (
        f"Please wear headphones in a quiet place. {hp}{practice}"
        f"You will then compare {n_items} pairs of {what}. For each pair, play clip A and clip B to the end "
        f"(you may replay them), then answer: {design.question}"
        f"{' You may also say that you have no preference.' if design.allow_no_preference else ''} "
        f"Some pairs contain a clip with a loud noise burst: a clip with such a defect is never the better one."
    )


def payment_text(design: SurveyDesign) -> str:
    bonus = (
        f" Raters who pass every check receive a bonus of ${design.bonus} per task."
        if float(design.bonus) > 0
        else ""
    )
    return (
        f"You are paid ${design.reward} per task; a task takes about {design.minutes:g} minutes. Tasks whose "
        f"checks fail (the noise-burst pair answered wrongly, a repeated pair answered inconsistently, or "
        f"answered faster than the clips can be heard) may be rejected.{bonus}"
    )


def _clip(side: str, src: str, label: str, once: bool = False) -> str:
    hint = " (plays once)" if once else ""
    return (
        f'<div class="clip" data-side="{side}"><div class="media" data-src="{src}"></div>'
        f'<button type="button" class="play" data-side="{side}">&#9654; {label}{hint}</button>'
        f'<span class="state">not played yet</span></div>'
    )


def _choices(name: str, values: list[tuple[str, str]]) -> str:
    return "".join(
        f'<label class="choice"><input type="radio" name="{name}" value="{v}" disabled> {text}</label>'
        for v, text in values
    )


def render_layout(
    design: SurveyDesign,
    n_items: int,
    media: str,
    *,
    headphone_urls: list[str],
    practice_urls: tuple[str, str] | None,
    version: str,
) -> str:
    """layout.html: the fragment with the design's items; `${pair<i>_a}`/`${pair<i>_b}` stay placeholders."""
    ab = [("A", "A"), ("B", "B")] + ([("none", "No preference")] if design.allow_no_preference else [])
    q = html.escape(design.question)
    items = []
    for i in range(1, n_items + 1):
        items.append(
            f'<fieldset class="box item" data-item="{i}">\n'
            f"  <legend>Pair {i} of {n_items}</legend>\n"
            f'  <div class="clips">{_clip("A", f"${{pair{i}_a}}", "Play A")}'
            f"{_clip('B', f'${{pair{i}_b}}', 'Play B')}</div>\n"
            f'  <p class="question">{q}</p>\n'
            f'  <div class="choices">{_choices(f"pair{i}", ab)}</div>\n'
            f'  <p class="hint">Play both clips to the end to answer.</p>\n'
            f"</fieldset>"
        )
    hidden = "\n".join(
        f'<input type="hidden" name="pair{i}_{f}" value="">'
        for i in range(1, n_items + 1)
        for f in ("plays_a", "plays_b", "ms")
    )
    hp = ""
    if headphone_urls:
        trials = "\n".join(
            f'<fieldset class="box hp" data-trial="{k}"><legend>Headphone check {k} of {len(headphone_urls)}'
            f'</legend><div class="clips">{_clip("T", html.escape(url), "Play the three tones", once=True)}'
            f'</div><p class="question">Which tone was the quietest?</p><div class="choices">'
            f"{_choices(f'hp{k}', [('1', 'First'), ('2', 'Second'), ('3', 'Third')])}</div></fieldset>"
            for k, url in enumerate(headphone_urls, start=1)
        )
        hp = (
            '<section id="s2w-headphones"><h3>Headphone check</h3><p>Put on your headphones and set a '
            "comfortable volume. Each check plays three low tones once; choose the quietest one.</p>\n"
            f"{trials}</section>"
        )
    practice = ""
    if practice_urls:
        a, b = (html.escape(u) for u in practice_urls)
        practice = (
            '<fieldset class="box practice"><legend>Practice pair (not scored)</legend>'
            f'<div class="clips">{_clip("A", a, "Play A")}{_clip("B", b, "Play B")}</div>'
            f'<p class="question">{q}</p><div class="choices">{_choices("practice", ab)}</div>'
            '<p class="hint">Play both clips to the end to answer.</p></fieldset>'
        )
    text = {
        "{{TITLE}}": html.escape(design.title),
        "{{INSTRUCTIONS}}": html.escape(design.instructions or default_instructions(design, n_items, media)),
        "{{PAYMENT}}": html.escape(payment_text(design)),
        "{{CONSENT}}": html.escape(design.consent),
        "{{N_ITEMS}}": str(int(n_items)),
        "{{HP_TRIALS}}": str(len(headphone_urls)),
        "{{VERSION}}": html.escape(version),
        "{{HEADPHONES}}": hp,
        "{{PRACTICE}}": practice,
        "{{ITEMS}}": "\n".join(items),
        "{{HIDDEN}}": hidden,
    }
    page = layout_template()
    for k, v in text.items():
        page = page.replace(k, v)
    return page


def full_page(layout: str, title: str) -> str:
    """hit.html: the layout inside the form the Requester UI would add (for HTMLQuestion and preview)."""
    return _WRAPPER.format(title=html.escape(title), action=MTURK_SUBMIT, layout=layout)


def placeholders(page: str) -> set[str]:
    return {m.group(1) for m in PLACEHOLDER.finditer(page)}


def fill_template(page: str, values: dict[str, str], where: str = "hit.html") -> str:
    """Replace every `${name}` by its (HTML-escaped) value; a placeholder without a value is an error."""
    unknown = sorted(placeholders(page) - set(values))
    if unknown:
        raise DataError(
            f"placeholder(s) without a batch column: {', '.join(unknown)}",
            where,
            "rebuild the survey so that batch.csv and the page match",
        )
    return PLACEHOLDER.sub(lambda m: html.escape(values[m.group(1)], quote=True), page)


def html_question(page: str, frame_height: int = 0) -> str:
    """An HTMLQuestion document (MTurk's XML for an HTML page hosted by MTurk) around a filled page."""
    if "]]>" in page:
        raise DataError("the page contains ']]>', which cannot sit inside HTMLQuestion's CDATA section")
    return (
        f'<HTMLQuestion xmlns="{HTMLQUESTION_NS}"><HTMLContent><![CDATA[\n{page}\n]]></HTMLContent>'
        f"<FrameHeight>{int(frame_height)}</FrameHeight></HTMLQuestion>"
    )


def row_page(hit_page: str, row: dict[str, Any], where: str = "hit.html") -> str:
    return fill_template(hit_page, {k: str(v or "") for k, v in row.items() if k is not None}, where)
