"""Root pytest configuration.

The notebooks choose their size from ``smoke_test = "CI" in os.environ``. Under pytest
they always run in smoke mode (a few hundred images, one epoch), so ``CI`` is set here
for the notebook kernels that nbmake starts.
"""

import os

os.environ.setdefault("CI", "true")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
