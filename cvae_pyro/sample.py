"""``python -m cvae_pyro.sample``: see :func:`cvae_pyro.cli.sample`."""

import sys

from .cli import sample as main

if __name__ == "__main__":
    sys.exit(main())
