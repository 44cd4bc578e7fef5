"""The survey's preference charts now live with every other chart in `s2w_eval.report.figures`."""

from ..report.figures import plot_preferences

__all__ = ["plot_preferences"]
