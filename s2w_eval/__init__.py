"""s2w-eval: evaluation of emotional scene musicalization (perceptual metrics, chord emotion, surveys).

The Python API (see docs/api.md) is importable from here; it loads on first use so that `s2w-eval --help`
stays fast:

    import s2w_eval
    scores = s2w_eval.pam(["runs/my-run"], metrics=["dpam"])
"""

__version__ = "0.2.0"

_API = (
    "score",
    "score_runs",
    "pam",
    "pam_folders",
    "chords",
    "dist",
    "calibrate",
    "resolve_protocol",
    "Scores",
    "ResolvedProtocol",
    "TASKS",
)
__all__ = ["__version__", *_API]


def __getattr__(name: str):
    if name in _API:
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 's2w_eval' has no attribute {name!r}")
