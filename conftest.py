"""Root pytest configuration, read before any test runs.

- A relative data folder in ``CVAE_PYRO_DATA`` means relative to where pytest was
  started, as it does for the command-line tools. Tests that run a command or a notebook
  in a folder of their own pass the variable on, where the same relative path would
  point elsewhere, so it is made absolute here, once.
- ``OMP_WAIT_POLICY`` is ``PASSIVE`` unless set: OpenMP's idle threads sleep instead of
  spinning, in the tests and in the processes they start.
"""

import os
from pathlib import Path

DATA_ENV_VAR = "CVAE_PYRO_DATA"  # cvae_pyro.data.DATA_ENV_VAR, without importing torch here

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
if os.environ.get(DATA_ENV_VAR):
    os.environ[DATA_ENV_VAR] = str(Path(os.environ[DATA_ENV_VAR]).expanduser().absolute())
