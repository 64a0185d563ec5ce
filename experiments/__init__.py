"""Studies of the trained models and the maker of the shipped ones.

Each script runs from the repository's root as ``python -m experiments.NAME``; README.md
lists them.
"""
