"""`python -m s2w_eval.cli` = `s2w-eval`."""

from . import main

main()
