"""Developer tools run from the repository root as `python -m tools.<name>`.

Not part of the product: nothing under orchestration/ imports from here. Each
tool measures, benchmarks or renders documentation from the product's code.
"""
