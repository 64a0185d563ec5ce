"""``python -m cvae_pyro.complete``: see :data:`cvae_pyro.cli.complete`."""

from .cli import complete as main

if __name__ == "__main__":
    raise SystemExit(main())
