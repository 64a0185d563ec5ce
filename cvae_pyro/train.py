"""``python -m cvae_pyro.train``: see :data:`cvae_pyro.cli.train`."""

from .cli import train as main

if __name__ == "__main__":
    raise SystemExit(main())
