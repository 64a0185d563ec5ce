"""The committed results, installed with the package as ``cvae_pyro.results``.

The tables (``*.md``, ``*.csv``) and run records (``run.json``) that
``python -m cvae_pyro.reproduce`` and the studies of ``experiments/`` wrote, one folder per
run (``seed0/``, ``seeds_0_1_2/``, ``label/``, ...). The notebooks read them wherever they
run::

    import importlib.resources

    RESULTS = importlib.resources.files("cvae_pyro.results")
    table = (RESULTS / "seed0" / "cll_table.md").read_text()

Only the text files are installed; the pictures stay in the repository.
"""
