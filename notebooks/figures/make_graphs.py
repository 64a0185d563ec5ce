"""Draw the CVAE's model and guide graphs that notebook 01 shows when Graphviz is missing.

Run from the repository root, with Debian's ``graphviz`` and PyPI's ``graphviz``
installed (``pip install -e ".[notebooks]"``)::

    python notebooks/figures/make_graphs.py

It writes ``cvae_model.svg`` and ``cvae_guide.svg`` next to this file. The graphs
depend only on the sample sites (``z``, ``y``) and the plate, not on the network
sizes, so small networks do.
"""

from pathlib import Path

import pyro
import torch
from cvae_pyro.build import build_baseline

from cvae_pyro import CVAE, QuadrantCondition
from cvae_pyro.masks import NUM_PIXELS, output_dim

QUADRANTS = 1  # the notebook's task
HIDDEN = (8,)  # any size draws the same graph
BATCH = 4  # images in the traced batch
HERE = Path(__file__).resolve().parent


def main() -> None:
    """Trace the package's model and guide once each and write their graphs as SVG."""
    cvae = CVAE(QuadrantCondition(QUADRANTS, build_baseline(QUADRANTS, HIDDEN)), 2, HIDDEN)
    x = torch.rand(BATCH, NUM_PIXELS)  # (B, 784): [given pixels, baseline's guess]
    y = torch.rand(BATCH, output_dim(QUADRANTS))  # (B, 588)
    for name, program in (("cvae_model", cvae.model), ("cvae_guide", cvae.guide)):
        graph = pyro.render_model(program, model_args=(x, y), render_distributions=True)
        (HERE / f"{name}.svg").write_bytes(graph.pipe(format="svg"))
        print(f"wrote {name}.svg")


if __name__ == "__main__":
    main()
