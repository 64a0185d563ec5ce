"""``python -m cvae_pyro.reproduce``: the command lives in :mod:`cvae_pyro.cli.reproduce`."""

import sys

from .cli.reproduce import main

if __name__ == "__main__":
    sys.exit(main())
