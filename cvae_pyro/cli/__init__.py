"""The command-line tools: each parses its arguments, calls the library, prints, and exits.

``python -m cvae_pyro.train`` (:mod:`cvae_pyro.cli.train`), ``cvae_pyro.evaluate``,
``cvae_pyro.reproduce``, ``cvae_pyro.sample`` and ``cvae_pyro.complete``. The options
of each come from its configuration dataclass in :mod:`cvae_pyro.config`. Nothing in
the library imports this package.
"""
