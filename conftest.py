"""Root pytest configuration, read before any test or notebook runs.

- The notebooks choose their size from ``smoke_test = "CI" in os.environ``. Under pytest
  they always run in smoke mode (a few hundred images, one epoch), so ``CI`` is set here
  for the notebook kernels that nbmake starts.
- A relative data folder in ``CVAE_PYRO_DATA`` means relative to where pytest was
  started, as it does for the command-line tools. nbmake starts each kernel in the
  notebook's own folder (``notebooks/``), where the same relative path would point
  elsewhere, so it is made absolute here, once, before any kernel starts.
"""

import os
from pathlib import Path

DATA_ENV_VAR = "CVAE_PYRO_DATA"  # cvae_pyro.data.DATA_ENV_VAR, without importing torch here

os.environ.setdefault("CI", "true")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
if os.environ.get(DATA_ENV_VAR):
    os.environ[DATA_ENV_VAR] = str(Path(os.environ[DATA_ENV_VAR]).expanduser().absolute())
