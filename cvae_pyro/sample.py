"""``python -m cvae_pyro.sample``: the command lives in :mod:`cvae_pyro.cli.sample`."""

import sys

from .cli.sample import main

if __name__ == "__main__":
    sys.exit(main())
