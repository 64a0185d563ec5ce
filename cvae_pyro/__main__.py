"""``python -m cvae_pyro <command>``: the five commands under one name."""

from .cli import dispatch as main

if __name__ == "__main__":
    raise SystemExit(main())
