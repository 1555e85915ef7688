"""Each chapter's training recipe: its settings, its step and its evaluation, written once.

The lecture notebook shows the recipe's code (``inspect.getsource``) and runs it; the
benchmarks run the very same function, so the figures in ``benchmarks/RESULTS.md`` are
those of the notebook.
"""
