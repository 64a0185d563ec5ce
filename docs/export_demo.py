"""Export the mask CVAE for the in-browser demo page: ``python docs/export_demo.py``.

``docs/build.sh`` runs this before Sphinx. It reads the shipped float16 mask CVAE
(``cvae_pyro/pretrained/mnist-mask.pt``; ``--checkpoint`` or ``$CVAE_PYRO_DEMO_CHECKPOINT``
name another) and writes ``weights.js`` into ``docs/_static/demo/`` (generated,
gitignored): the three networks the page runs (the mask baseline NN, the prior network
p(z|x) and the generation network p(y|x,z)) as float16 values. A page opened from
``file://`` cannot ``fetch`` a local file, so the weights travel inside a script. The
values' high bytes, then their low bytes (the high bytes repeat and compress, the low
ones hardly), are gzipped and stored as one string literal; the page loads the script
with ``charset="windows-1252"``, so each byte of the file is one character of the string
(base64 would add a third). ``demo.js`` maps the characters back to bytes, gunzips them
with the browser's ``DecompressionStream`` and rebuilds the values.

The page's other input, ``docs/_static/demo/inputs.js``, is committed, so that the
build needs no dataset: the first MNIST test image of each class for "pick a digit",
and the three quadrant layouts of :mod:`cvae_pyro.masks` for the hiding choices. The
same ten digits are committed as ``docs/_static/examples/digit_0.png`` ...
``digit_9.png`` (28x28, 8-bit grey, white digit on black, as in MNIST), pictures to
give ``complete --image`` and ``sample --style-of``. ``--write-inputs`` writes all
eleven files from MNIST (``--data-dir``, else where the package finds MNIST); a normal
run checks that ``inputs.js`` holds the package's quadrant layouts.

The layer widths, the latent size and the scale floor come from the checkpoint and the
package, never from this file. :func:`reference_completions` is the package's own
forward pass that the browser check compares the page's JavaScript with.

``python docs/export_demo.py --measure`` instead adds up the files the built
``demo.html`` loads and compares them with :data:`PAGE_BUDGET_BYTES`.
"""

from __future__ import annotations

# ruff: noqa: E402  (the checkout is put on sys.path before the package is imported)
import argparse
import base64
import gzip
import hashlib
import html.parser
import json
import os
import re
import shutil
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))

from cvae_pyro.beyond.any_mask import MaskCondition
from cvae_pyro.cli.checkpoints import load_checkpoint, weights_problem
from cvae_pyro.cli.config import IMAGE_SIDE, VALID_QUADRANTS
from cvae_pyro.cli.errors import CheckpointError
from cvae_pyro.cli.model_files import DEMO_SETTINGS
from cvae_pyro.data import DataError, load_idx_verified, resolve_data_dir
from cvae_pyro.masks import NUM_PIXELS, input_mask
from cvae_pyro.models import CVAE, MaskBaselineNN
from cvae_pyro.networks import MIN_SCALE

SHIPPED_CHECKPOINT = ROOT / "cvae_pyro" / "pretrained" / "mnist-mask.pt"  #: the default model
CHECKPOINT_ENV_VAR = "CVAE_PYRO_DEMO_CHECKPOINT"  #: names another checkpoint to export
OUT_DIR = DOCS / "_static" / "demo"  #: where the page's scripts go (next to demo.js)
WEIGHTS_JS = "weights.js"  #: the networks' float16 values (generated, gitignored)
INPUTS_JS = "inputs.js"  #: test digits and quadrant layouts (committed; --write-inputs)
EXAMPLES_DIR = DOCS / "_static" / "examples"  #: digit_<d>.png (committed; --write-inputs)
DEMO_JS = "demo.js"  #: the page's hand-written JavaScript (committed)
BUILT_PAGE = DOCS / "_build" / "html" / "demo.html"  #: what --measure adds up
PAGE_BUDGET_BYTES = 10_000_000  #: the most all the files the page loads may weigh (10 MB)
WEIGHTS_FORMAT = "cvae_pyro-demo-weights"  #: marker in weights.js
WEIGHTS_VERSION = 1  #: bumped when the layout of weights.js changes
NUM_CLASSES = 10  #: one test digit per class
TEST_IMAGES, TEST_LABELS = "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"
DATA_PREFIX = b"\nwindow.CVAE_DEMO_WEIGHTS.data = '"  #: starts the string literal
DATA_SUFFIX = b"';\n"  #: ends it
#: Bytes that cannot stand for themselves inside a single-quoted JavaScript string.
ESCAPES = {ord("\\"): b"\\\\", ord("'"): b"\\'", ord("\n"): b"\\n", ord("\r"): b"\\r"}
UNESCAPES = {b"\\\\": b"\\", b"\\'": b"'", b"\\n": b"\n", b"\\r": b"\r"}


def checkpoint_path(arg: str | os.PathLike | None = None) -> Path:
    """The checkpoint to export: ``arg``, else ``$CVAE_PYRO_DEMO_CHECKPOINT``, else the shipped one."""
    return Path(arg or os.environ.get(CHECKPOINT_ENV_VAR) or SHIPPED_CHECKPOINT)


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file: weights.js records its checkpoint's, the browser check compares."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _widths(state: dict[str, torch.Tensor], prefix: str) -> list[int]:
    """Output widths of the linear layers ``{prefix}.{i}.weight``, in layer order."""
    found = re.compile(re.escape(prefix) + r"\.(\d+)\.weight$")
    layers = sorted((int(m[1]), v.shape[0]) for k, v in state.items() if (m := found.match(k)))
    return [width for _, width in layers]


def load_mask_cvae(path: Path) -> CVAE:
    """The mask CVAE of a checkpoint, its weights rounded to float16 (float32 tensors).

    Sizes are read from the tensors' shapes. A float16 checkpoint (the shipped copy)
    loads exactly; a float32 one (straight from training) is rounded as the export rounds it.

    Raises:
        SystemExit: the file is missing or holds no mask CVAE (one line saying so).
    """
    if not path.is_file():
        sys.exit(
            f"export_demo: no checkpoint at {path}. The page needs the shipped MNIST mask "
            f"CVAE ({SHIPPED_CHECKPOINT.relative_to(ROOT)}); give another with --checkpoint "
            f"PATH or {CHECKPOINT_ENV_VAR}=PATH (a float16 copy of a "
            "`python -m cvae_pyro.train --condition mask` cvae.pt)"
        )
    try:  # the package's checked, weights_only loading
        ckpt = load_checkpoint(path, expect=DEMO_SETTINGS, kind="cvae")
    except CheckpointError as err:
        sys.exit(
            f"export_demo: {err} (the page needs a mask CVAE of MNIST with the conditional prior)"
        )
    state = {k: v.half().float() for k, v in ckpt["state_dict"].items()}
    problem = weights_problem(state)  # a weight beyond float16's range rounds to infinity
    if problem:
        sys.exit(f"export_demo: {path}: in float16, {problem}; the page cannot use it")
    prior_widths = _widths(state, "prior_net.net")  # [*hidden, 2 * z_dim]
    baseline = MaskBaselineNN(_widths(state, "condition.baseline.net")[:-1])
    cvae = CVAE(MaskCondition(baseline), prior_widths[-1] // 2, prior_widths[:-1])
    cvae.load_state_dict(state)
    return cvae.eval()


def page_nets(cvae: CVAE) -> dict[str, list[nn.Linear]]:
    """The linear layers of the three networks the page runs, by the page's names.

    Every network is :func:`cvae_pyro.networks.mlp`: linear layers with a ReLU between
    each two; the page's JavaScript assumes that layout, so anything else is an error.
    """
    nets = {
        "baseline": cvae.condition.baseline.net,  # [x * mask, mask] -> logits of y_hat
        "prior": cvae.prior_net.net,  # [x * mask, mask, y_hat] -> [loc, raw scale] of z
        "generation": cvae.generation_net.net,  # [x * mask, mask, z] -> logits of y
    }
    for name, net in nets.items():
        kinds = [type(m) for m in net]
        expected = [nn.Linear, nn.ReLU] * (len(net) // 2) + [nn.Linear]
        if kinds != expected:
            raise ValueError(f"the {name} network is not Linear/ReLU layers: {kinds}")
    return {name: [m for m in net if isinstance(m, nn.Linear)] for name, net in nets.items()}


def float16_values(nets: dict[str, list[nn.Linear]]) -> np.ndarray:
    """``(N,)`` float16: per network and layer, the ``(out, in)`` weight row by row, then the bias."""
    parts = [
        t.detach().numpy().astype(np.float16).ravel()
        for layers in nets.values()
        for layer in layers
        for t in (layer.weight, layer.bias)
    ]
    return np.concatenate(parts)


def encode_values(values: np.ndarray) -> bytes:
    """Gzip of the float16 values' high bytes then their low bytes (2N bytes before gzip)."""
    planes = values.astype("<f2").view(np.uint8).reshape(-1, 2)  # (N, 2): low, high
    return gzip.compress(planes[:, 1].tobytes() + planes[:, 0].tobytes(), 9, mtime=0)


def decode_values(data: bytes) -> np.ndarray:
    """Inverse of :func:`encode_values`: ``(N,)`` float16 (what demo.js does in the page)."""
    planes = np.frombuffer(gzip.decompress(data), dtype=np.uint8)
    high, low = planes.reshape(2, -1)  # (N,), (N,)
    return np.stack([low, high], axis=1).reshape(-1).view("<f2")  # (N,)


def js_string_bytes(data: bytes) -> bytes:
    """The body of a single-quoted JavaScript string whose characters are ``data``'s bytes."""
    return b"".join(ESCAPES.get(b, bytes([b])) for b in data)


def parse_js_string_bytes(body: bytes) -> bytes:
    """Inverse of :func:`js_string_bytes`."""
    return re.sub(rb"\\[\\'nr]", lambda m: UNESCAPES[m[0]], body)


def weights_metadata(cvae: CVAE, nets: dict[str, list[nn.Linear]], source: Path) -> dict:
    """What the page needs besides the values: sizes, layer shapes, scale floor, source."""
    layers = {name: [[m.in_features, m.out_features] for m in ms] for name, ms in nets.items()}
    return {
        "format": WEIGHTS_FORMAT,
        "version": WEIGHTS_VERSION,
        "source": {"checkpoint": source.name, "sha256": file_sha256(source)},
        "zDim": cvae.z_dim,
        "imageSide": IMAGE_SIDE,
        "minScale": MIN_SCALE,  # p(z|x)'s scale is softplus(raw) + minScale
        "layers": layers,  # [in, out] of each linear layer, network by network
        "count": sum(i * o + o for ms in layers.values() for i, o in ms),
        "encoding": "gzip(high bytes, low bytes) of little-endian float16, windows-1252 string",
    }


def write_weights_js(cvae: CVAE, source: Path, path: Path) -> dict:
    """Write ``weights.js``; returns its metadata."""
    nets = page_nets(cvae)
    meta = weights_metadata(cvae, nets, source)
    head = f"// Generated by docs/export_demo.py from {source.name}; do not edit.\n"
    head += f"window.CVAE_DEMO_WEIGHTS = {json.dumps(meta)};"
    body = js_string_bytes(encode_values(float16_values(nets)))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(head.encode("ascii") + DATA_PREFIX + body + DATA_SUFFIX)
    return meta


def read_weights_js(path: Path) -> tuple[dict, np.ndarray]:
    """The metadata and the ``(N,)`` float16 values of a ``weights.js``."""
    raw = path.read_bytes()
    start = raw.index(DATA_PREFIX)
    head = raw[:start].decode("ascii")
    meta = json.loads(head[head.index("{") : head.rindex(";")])
    body = raw[start + len(DATA_PREFIX) : raw.rindex(DATA_SUFFIX)]
    return meta, decode_values(parse_js_string_bytes(body))


def first_test_digits(data_dir: str | None) -> tuple[np.ndarray, np.ndarray]:
    """The first MNIST test image of each class: labels ``(10,)`` and bytes ``(10, 784)``."""
    folder = resolve_data_dir(data_dir)
    images = load_idx_verified(folder, TEST_IMAGES).reshape(-1, NUM_PIXELS)  # (10000, 784)
    labels = load_idx_verified(folder, TEST_LABELS)  # (10000,)
    first = [int(np.flatnonzero(labels == digit)[0]) for digit in range(NUM_CLASSES)]
    return labels[first], images[first]  # (10,), (10, 784) uint8


def quadrant_layouts() -> list[dict]:
    """The quadrant layouts as inputs.js holds them: "1" where a pixel is visible, row-major."""
    return [
        {"quadrants": q, "visible": "".join("01"[v] for v in input_mask(q).tolist())}
        for q in VALID_QUADRANTS
    ]


def write_inputs(data_dir: str | None, path: Path, examples: Path) -> None:
    """Write ``inputs.js`` (test digits as base64 bytes, quadrant layouts) and the PNGs.

    The PNGs are ``examples/digit_<d>.png``: the same first test image of each class,
    28x28, 8-bit grey, white digit on black.
    """
    labels, images = first_test_digits(data_dir)  # (10,), (10, 784) uint8
    inputs = {
        "digits": {
            "labels": labels.tolist(),
            "bytes": base64.b64encode(images.astype(np.uint8).tobytes()).decode("ascii"),
        },
        "layouts": quadrant_layouts(),
    }
    text = "// Written by `python docs/export_demo.py --write-inputs`; do not edit.\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + f"window.CVAE_DEMO_INPUTS = {json.dumps(inputs)};\n")
    examples.mkdir(parents=True, exist_ok=True)
    for label, image in zip(labels.tolist(), images, strict=True):
        picture = Image.fromarray(image.astype(np.uint8).reshape(IMAGE_SIDE, IMAGE_SIDE), "L")
        picture.save(examples / f"digit_{label}.png", optimize=True)


def read_inputs_js(path: Path) -> dict:
    """The object a committed ``inputs.js`` assigns to ``window.CVAE_DEMO_INPUTS``."""
    text = path.read_text()
    return json.loads(text[text.index("{") : text.rindex(";")])


def check_inputs_js(path: Path) -> str | None:
    """Why ``inputs.js`` cannot serve the page (missing, unreadable, other layouts), or None."""
    how = "write it with `python docs/export_demo.py --write-inputs --data-dir MNIST_DIR`"
    if not path.is_file():
        return f"{path} is missing; {how}"
    try:
        inputs = read_inputs_js(path)
    except (ValueError, OSError) as err:
        return f"{path} is not readable ({err}); {how}"
    if inputs.get("layouts") != quadrant_layouts():
        return f"{path} holds other quadrant layouts than cvae_pyro.masks; {how}"
    return None


def reference_completions(
    cvae: CVAE, pixels: torch.Tensor, visible: torch.Tensor, eps: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The package's forward pass of what the page's ``complete`` computes.

    Args:
        pixels: ``(B, 784)`` pictures in [0, 1].
        visible: ``(B, 784)`` bool, True where a pixel is visible.
        eps: ``(S, B, z_dim)`` standard-normal draws.

    Returns:
        The baseline's guess y_hat ``(B, 784)`` and the completions' pixel probabilities
        ``(S, B, 784)``: sigmoid of p(y|x,z) with ``z = mu + sigma * eps`` from p(z|x).
    """
    with torch.no_grad():
        x = cvae.condition.prepare(pixels, visible)  # (B, 2352)
        h, _ = cvae.condition(x)  # (B, 1568)
        prior = cvae.prior(x)
        z = prior.mean + prior.stddev * eps  # (S, B, z_dim)
        return cvae.condition.baseline.predict(h), torch.sigmoid(cvae.generation_net(h, z))


class _Resources(html.parser.HTMLParser):
    """The local files a page's HTML loads: scripts, stylesheets, icons and images."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag in ("script", "img") and a.get("src"):
            self.urls.append(a["src"])
        elif tag == "link" and a.get("href") and a.get("rel") in ("stylesheet", "icon"):
            self.urls.append(a["href"])


def page_files(page: Path) -> dict[Path, int]:
    """Bytes of ``page`` and of every local file its HTML loads (scripts, styles, images)."""
    parser = _Resources()
    parser.feed(page.read_text())
    files = {page: page.stat().st_size}
    for url in parser.urls:
        if "://" in url or url.startswith("data:"):
            continue
        path = (page.parent / url.split("?")[0].split("#")[0]).resolve()
        files[path] = path.stat().st_size
    return files


def measure(page: Path) -> int:
    """Print the files ``page`` loads and their total; 1 when over the budget."""
    if not page.is_file():
        print(f"export_demo: {page} is missing; run `bash docs/build.sh` first")
        return 1
    files = page_files(page)
    total = sum(files.values())
    for path, size in sorted(files.items(), key=lambda item: -item[1])[:4]:
        print(f"  {size / 1e6:7.3f} MB  {path.relative_to(page.parent)}")
    verdict = "within" if total <= PAGE_BUDGET_BYTES else "OVER"
    print(
        f"export_demo: {page.name} loads {len(files)} files, {total / 1e6:.2f} MB in all, "
        f"{verdict} the {PAGE_BUDGET_BYTES / 1e6:.0f} MB budget"
    )
    return 0 if total <= PAGE_BUDGET_BYTES else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", help=f"mask CVAE checkpoint (${CHECKPOINT_ENV_VAR})")
    parser.add_argument(
        "--data-dir", help="MNIST folder for --write-inputs (default: as the package finds it)"
    )
    parser.add_argument("--out-dir", type=Path, default=OUT_DIR, help="where the scripts go")
    parser.add_argument(
        "--write-inputs",
        action="store_true",
        help=f"write {INPUTS_JS} and {EXAMPLES_DIR.relative_to(ROOT)}/digit_<d>.png from MNIST",
    )
    parser.add_argument("--measure", action="store_true", help="add up the built page's files")
    args = parser.parse_args(argv)
    if args.measure:
        return measure(BUILT_PAGE)
    inputs = args.out_dir / INPUTS_JS
    elsewhere = args.out_dir.resolve() != OUT_DIR.resolve()
    if args.write_inputs:
        examples = args.out_dir / "examples" if elsewhere else EXAMPLES_DIR
        try:
            write_inputs(args.data_dir, inputs, examples)
        except DataError as err:
            sys.exit(f"export_demo: the page's test digits: {err}")
    elif elsewhere:  # the committed digits go with the page
        if problem := check_inputs_js(OUT_DIR / INPUTS_JS):
            sys.exit(f"export_demo: {problem}")
        args.out_dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(OUT_DIR / INPUTS_JS, inputs)
    if problem := check_inputs_js(inputs):
        sys.exit(f"export_demo: {problem}")
    source = checkpoint_path(args.checkpoint)
    cvae = load_mask_cvae(source)
    meta = write_weights_js(cvae, source, args.out_dir / WEIGHTS_JS)
    sizes = {name: (args.out_dir / name).stat().st_size for name in (WEIGHTS_JS, INPUTS_JS)}
    print(
        f"export_demo: {source} -> {args.out_dir}: {meta['count']:,} float16 values "
        f"({2 * meta['count'] / 1e6:.2f} MB raw), {WEIGHTS_JS} {sizes[WEIGHTS_JS] / 1e6:.2f} MB, "
        f"{INPUTS_JS} {sizes[INPUTS_JS] / 1e3:.1f} kB"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
