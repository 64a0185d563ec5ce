"""``python -m cvae_pyro.reproduce``: see :data:`cvae_pyro.cli.reproduce`."""

from .cli import reproduce as main

if __name__ == "__main__":
    raise SystemExit(main())
