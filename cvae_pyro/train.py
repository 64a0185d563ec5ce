"""``python -m cvae_pyro.train``: the command lives in :mod:`cvae_pyro.cli.train`."""

import sys

from .cli.train import main

if __name__ == "__main__":
    sys.exit(main())
