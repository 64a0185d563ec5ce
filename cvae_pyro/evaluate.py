"""``python -m cvae_pyro.evaluate``: the command lives in :mod:`cvae_pyro.cli.evaluate`."""

import sys

from .cli.evaluate import main

if __name__ == "__main__":
    sys.exit(main())
