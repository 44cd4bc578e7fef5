"""A scripted rater for the task page in headless Chromium: plays every clip to its end, then answers.

`scope` is a Playwright Page or FrameLocator (Turkle shows the layout in an iframe). The rater's taste is a
function (key item, page) -> "A" | "B"; the headphone check is answered from the manifest (a rater with
headphones) or deliberately wrong (one without).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from s2w_eval.survey.keyfile import AnswerKey, KeyItem

WAIT_MS = 20_000


def play(scope, box: str, side: str):
    """Start a clip, yield (another rater may act meanwhile), then wait until it has played to its end."""
    scope.locator(f"{box} button.play[data-side='{side}']").click()
    yield
    scope.locator(f"{box} .clip[data-side='{side}'] .state.done").wait_for(timeout=WAIT_MS)


def task_of(scope, key: AnswerKey) -> str:
    """Which task the page shows: the key's task whose first pair has the page's clips."""
    src = scope.locator("fieldset.item[data-item='1'] .clip[data-side='A'] .media").get_attribute("data-src")
    name = src.rsplit("/", 1)[-1]
    return next(t for t, items in key.tasks.items() if items[1].a_clip == name)


def prefers(condition: str) -> Callable[[KeyItem], str]:
    """A rater who always prefers `condition` and answers the noise-burst check correctly."""

    def choose(it: KeyItem) -> str:
        if it.kind == "defect":
            return it.expected
        if condition in (it.a_condition, it.b_condition):
            return "A" if it.a_condition == condition else "B"
        return "A"

    return choose


def careless(it: KeyItem) -> str:
    """Picks the clip with the noise burst, and the other side otherwise."""
    if it.kind == "defect":
        return "B" if it.expected == "A" else "A"
    return "B" if it.first_side == "A" else "A"


def do_task(
    scope, key: AnswerKey, manifest: dict[str, Any], choose: Callable[[KeyItem], str], headphones: bool = True
) -> tuple[str, dict[str, str]]:
    """Work through one task page as a rater; returns (task id, the Answer.* values given)."""
    steps = task_steps(scope, key, manifest, choose, headphones)
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value


def run_together(tasks: list) -> list:
    """Step several raters' task_steps round-robin, so that their clips play at the same time."""
    results: list = [None] * len(tasks)
    live = dict(enumerate(tasks))
    while live:
        for i, steps in list(live.items()):
            try:
                next(steps)
            except StopIteration as done:
                results[i] = done.value
                del live[i]
    return results


def task_steps(
    scope, key: AnswerKey, manifest: dict[str, Any], choose: Callable[[KeyItem], str], headphones: bool = True
):
    """do_task as a generator that yields while a clip plays; its return value is do_task's."""
    task = task_of(scope, key)
    given: dict[str, str] = {}
    scope.locator("input[name=consent]").check()
    given["consent"] = "yes"
    for t in (manifest.get("headphone_check") or {}).get("trials", []):
        k = t["trial"]
        yield from play(scope, f"fieldset.hp[data-trial='{k}']", "T")
        v = str(t["quiet"] if headphones else t["antiphase"])
        scope.locator(f"input[name=hp{k}][value='{v}']").check()
        given[f"hp{k}"] = v
    if manifest.get("practice"):
        for side in "AB":
            yield from play(scope, "fieldset.practice", side)
        scope.locator("input[name=practice][value=A]").check()
        given["practice"] = "A"
    for i, it in sorted(key.tasks[task].items()):
        for side in "AB":
            yield from play(scope, f"fieldset.item[data-item='{i}']", side)
        v = choose(it)
        scope.locator(f"input[name=pair{i}][value='{v}']").check()
        given[f"pair{i}"] = v
    return task, given
