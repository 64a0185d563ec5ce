"""``python -m cvae_pyro <command>``: the five commands under one name."""

import sys

from .cli import dispatch

if __name__ == "__main__":
    sys.exit(dispatch())
