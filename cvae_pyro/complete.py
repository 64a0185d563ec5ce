"""``python -m cvae_pyro.complete``: the command lives in :mod:`cvae_pyro.cli.complete`."""

import sys

from .cli.complete import main

if __name__ == "__main__":
    sys.exit(main())
