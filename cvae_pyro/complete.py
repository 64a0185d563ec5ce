"""``python -m cvae_pyro.complete``: see :func:`cvae_pyro.cli.complete`."""

import sys

from .cli import complete as main

if __name__ == "__main__":
    sys.exit(main())
