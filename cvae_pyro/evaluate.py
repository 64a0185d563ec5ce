"""``python -m cvae_pyro.evaluate``: see :data:`cvae_pyro.cli.evaluate`."""

from .cli import evaluate as main

if __name__ == "__main__":
    raise SystemExit(main())
