"""Timing scripts, each run from the repository's root as ``python benchmarks/NAME.py``.

The folder is a package so that ``experiments`` can import :func:`benchmarks.speed.machine`.
"""
