"""s2w-eval: evaluation of emotional scene musicalization (perceptual metrics, chord emotion, surveys)."""

__version__ = "0.1.0"
