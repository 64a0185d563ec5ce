"""``python -m cvae_pyro.sample``: the command lives in :mod:`cvae_pyro.cli.sample`."""

import sys

try:
    from .cli.sample import main
except KeyboardInterrupt:  # Ctrl-C while the command's modules load
    sys.stderr.write("cvae_pyro: interrupted while starting (nothing was written)\n")
    sys.exit(130)

if __name__ == "__main__":
    sys.exit(main())
