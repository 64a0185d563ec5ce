"""``python -m cvae_pyro.sample``: see :data:`cvae_pyro.cli.sample`."""

from .cli import sample as main

if __name__ == "__main__":
    raise SystemExit(main())
