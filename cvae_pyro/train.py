"""``python -m cvae_pyro.train``: see :func:`cvae_pyro.cli.train`."""

import sys

from .cli import train as main

if __name__ == "__main__":
    sys.exit(main())
