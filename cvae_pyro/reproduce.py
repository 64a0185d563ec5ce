"""``python -m cvae_pyro.reproduce``: see :func:`cvae_pyro.cli.reproduce`."""

import sys

from .cli import reproduce as main

if __name__ == "__main__":
    sys.exit(main())
