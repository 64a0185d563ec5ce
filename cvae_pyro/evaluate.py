"""``python -m cvae_pyro.evaluate``: see :func:`cvae_pyro.cli.evaluate`."""

import sys

from .cli import evaluate as main

if __name__ == "__main__":
    sys.exit(main())
