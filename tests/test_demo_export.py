"""The demo page's export (docs/export_demo.py): weights.js holds the checkpoint's float16
values exactly, in the layout demo.js reads; inputs.js the test digits and layouts."""

from __future__ import annotations

import base64
import gzip
import importlib.util
import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from cvae_pyro.cli.config import VALID_QUADRANTS
from cvae_pyro.data import load_dataset
from cvae_pyro.masks import MASK_INPUT_DIM, NUM_PIXELS, input_mask

from .helpers import run_module

EXPORT = Path(__file__).parents[1] / "docs" / "export_demo.py"
NETS = {  # the page's name of each network: its prefix in the CVAE's state_dict
    "baseline": "condition.baseline.net",
    "prior": "prior_net.net",
    "generation": "generation_net.net",
}
HIDDEN, Z_DIM = (24, 12), 3  # small, unequal widths, so that a transposed layer shows


@pytest.fixture(scope="module")
def export_demo():
    spec = importlib.util.spec_from_file_location("export_demo", EXPORT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, data_dir) -> Path:
    """A float16 copy of a tiny mask CVAE trained on a few images, as the shipped one is."""
    out = tmp_path_factory.mktemp("runs")
    hidden = [str(h) for h in HIDDEN]
    args = ["--condition", "mask", "--limit", "200", "--epochs", "1", "--hidden", *hidden]
    args += ["--z-dim", str(Z_DIM), "--out-dir", str(out), "--quiet", "--no-figures"]
    result = run_module("cvae_pyro.train", args, data_dir)
    assert result.returncode == 0, result.stderr
    ckpt = torch.load(out / "mask" / "cvae.pt", weights_only=True)
    ckpt.pop("train_state", None)
    ckpt["state_dict"] = {k: v.half() for k, v in ckpt["state_dict"].items()}
    path = out / "mask-f16.pt"
    torch.save(ckpt, path)
    return path


@pytest.fixture(scope="module")
def exported(export_demo, checkpoint, data_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    args = ["--checkpoint", str(checkpoint), "--data-dir", str(data_dir), "--out-dir", str(out)]
    assert export_demo.main(args) == 0
    return out


def state_dict(checkpoint: Path) -> dict[str, torch.Tensor]:
    return torch.load(checkpoint, weights_only=True)["state_dict"]


def expected_values(state: dict[str, torch.Tensor]) -> tuple[dict, np.ndarray]:
    """Shapes [in, out] per network and the float16 values in demo.js's order, from the state."""
    shapes, parts = {}, []
    for name, prefix in NETS.items():
        indices = sorted({int(k.split(".")[-2]) for k in state if k.startswith(prefix + ".")})
        shapes[name] = []
        for i in indices:
            weight, bias = state[f"{prefix}.{i}.weight"], state[f"{prefix}.{i}.bias"]
            shapes[name].append([weight.shape[1], weight.shape[0]])
            parts += [weight.numpy().ravel(), bias.numpy().ravel()]  # (out, in) row-major
    return shapes, np.concatenate(parts)


def string_bytes(path: Path) -> bytes:
    """The bytes of weights.js's data string, unescaped here independently of the module."""
    raw = path.read_bytes()
    body = raw[raw.index(b".data = '") + len(b".data = '") : raw.rindex(b"';")]
    assert not re.search(rb"(?<!\\)'|[\n\r]", body), "an unescaped quote or line break"
    return re.sub(rb"\\(.)", lambda m: {b"n": b"\n", b"r": b"\r"}.get(m[1], m[1]), body)


def test_weights_js_holds_the_float16_values_in_page_order(exported, checkpoint):
    shapes, values = expected_values(state_dict(checkpoint))
    planes = np.frombuffer(gzip.decompress(string_bytes(exported / "weights.js")), np.uint8)
    bits = values.view(np.uint16)  # (N,)
    assert planes.shape == (2 * len(bits),)
    np.testing.assert_array_equal(planes[: len(bits)], bits >> 8)  # high bytes first
    np.testing.assert_array_equal(planes[len(bits) :], bits & 0xFF)  # then the low bytes


def test_weights_js_metadata_comes_from_the_checkpoint(export_demo, exported, checkpoint):
    meta, values = export_demo.read_weights_js(exported / "weights.js")
    shapes, expected = expected_values(state_dict(checkpoint))
    assert meta["layers"] == shapes
    assert shapes["baseline"] == [[MASK_INPUT_DIM, 24], [24, 12], [12, NUM_PIXELS]]
    assert shapes["prior"][0] == [MASK_INPUT_DIM + NUM_PIXELS, 24]
    assert shapes["generation"][0] == [MASK_INPUT_DIM + Z_DIM, 24]
    assert meta["zDim"] == Z_DIM and shapes["prior"][-1][1] == 2 * Z_DIM
    assert meta["count"] == len(expected) == len(values)
    assert meta["minScale"] == pytest.approx(1e-4)
    assert meta["source"]["sha256"] == export_demo.file_sha256(checkpoint)
    np.testing.assert_array_equal(values.view(np.uint16), expected.view(np.uint16))


def test_encoding_round_trips_every_float16_bit_pattern(export_demo):
    values = np.arange(2**16, dtype=np.uint16).view(np.float16)  # NaNs, infinities, subnormals
    data = export_demo.encode_values(values)
    text = export_demo.js_string_bytes(data)
    assert len(text) < 1.05 * len(data)  # one byte per byte, but for a few escapes
    back = export_demo.decode_values(export_demo.parse_js_string_bytes(text))
    np.testing.assert_array_equal(back.view(np.uint16), values.view(np.uint16))


def test_a_float32_checkpoint_is_rounded_to_float16(export_demo, checkpoint, tmp_path):
    ckpt = torch.load(checkpoint, weights_only=True)
    ckpt["state_dict"] = {k: v.float() + 1e-5 for k, v in ckpt["state_dict"].items()}
    torch.save(ckpt, tmp_path / "f32.pt")
    cvae = export_demo.load_mask_cvae(tmp_path / "f32.pt")
    weight = cvae.prior_net.net[0].weight
    expected = ckpt["state_dict"]["prior_net.net.0.weight"].half().float()
    assert torch.equal(weight, expected)


def test_reference_is_the_package_models_forward_pass(export_demo, checkpoint, mnist):
    cvae = export_demo.load_mask_cvae(checkpoint)
    images = mnist.validation.images[:3]  # (3, 784)
    visible = torch.stack([input_mask(q) for q in VALID_QUADRANTS])  # (3, 784)
    eps = torch.randn(5, 3, Z_DIM, generator=torch.Generator().manual_seed(0))
    guess, probs = export_demo.reference_completions(cvae, images, visible, eps)
    assert guess.shape == (3, NUM_PIXELS) and probs.shape == (5, 3, NUM_PIXELS)
    x = cvae.condition.prepare(images, visible)  # (3, 2352)
    torch.testing.assert_close(guess, x[:, MASK_INPUT_DIM:])
    prior = cvae.prior(x)
    z = prior.base_dist.loc + prior.base_dist.scale * eps  # (5, 3, z)
    with torch.no_grad():
        torch.testing.assert_close(probs, cvae.likelihood(x, z).mean)
    assert not torch.allclose(probs[0], probs[1])  # eps matters


def test_inputs_js_holds_the_first_test_digit_of_each_class(exported, data_dir):
    text = (exported / "inputs.js").read_text()
    inputs = json.loads(text[text.index("{") : text.rindex(";")])
    assert inputs["digits"]["labels"] == list(range(10))
    raw = np.frombuffer(base64.b64decode(inputs["digits"]["bytes"]), np.uint8)
    test = load_dataset("mnist", data_dir).test
    first = [int((test.labels == d).nonzero()[0]) for d in range(10)]
    grey_bytes = (test.images[first] * 255).round().to(torch.uint8).numpy()  # (10, 784)
    np.testing.assert_array_equal(raw.reshape(10, NUM_PIXELS), grey_bytes)
    for layout, q in zip(inputs["layouts"], VALID_QUADRANTS, strict=True):
        assert layout["quadrants"] == q
        assert [c == "1" for c in layout["visible"]] == input_mask(q).tolist()


def test_the_shipped_model_is_the_default(export_demo, monkeypatch, tmp_path):
    monkeypatch.delenv(export_demo.CHECKPOINT_ENV_VAR, raising=False)
    shipped = EXPORT.parents[1] / "cvae_pyro" / "pretrained" / "mnist-mask.pt"
    assert export_demo.checkpoint_path() == shipped
    monkeypatch.setenv(export_demo.CHECKPOINT_ENV_VAR, str(tmp_path / "other.pt"))
    assert export_demo.checkpoint_path() == tmp_path / "other.pt"
    assert export_demo.checkpoint_path("given.pt") == Path("given.pt")


def test_a_missing_checkpoint_says_how_to_give_one(export_demo, tmp_path):
    with pytest.raises(
        SystemExit, match="no checkpoint at .*missing.pt.*CVAE_PYRO_DEMO_CHECKPOINT"
    ):
        export_demo.main(["--checkpoint", str(tmp_path / "missing.pt")])


def test_a_checkpoint_of_another_kind_is_refused(export_demo, checkpoint, tmp_path):
    ckpt = torch.load(checkpoint, weights_only=True)
    quadrant = {**ckpt["architecture"], "condition": "quadrant", "quadrants": 1}
    torch.save({**ckpt, "architecture": quadrant}, tmp_path / "quadrant.pt")
    with pytest.raises(SystemExit, match="condition='quadrant'.*needs a mask CVAE"):
        export_demo.load_mask_cvae(tmp_path / "quadrant.pt")
    torch.save({**ckpt, "kind": "baseline"}, tmp_path / "baseline.pt")
    with pytest.raises(SystemExit, match="holds a baseline model, not cvae"):
        export_demo.load_mask_cvae(tmp_path / "baseline.pt")


def test_measure_adds_up_the_files_the_page_loads(export_demo, tmp_path, monkeypatch, capsys):
    (tmp_path / "_static").mkdir()
    (tmp_path / "_static" / "a.js").write_bytes(b"x" * 1000)
    (tmp_path / "_static" / "b.css").write_bytes(b"y" * 500)
    (tmp_path / "unused.js").write_bytes(b"z" * 5000)
    page = tmp_path / "demo.html"
    page.write_text(
        '<script src="_static/a.js"></script><link rel="stylesheet" href="_static/b.css?v=1">'
        '<script src="https://example.org/c.js"></script><a href="unused.js">not loaded</a>'
    )
    files = export_demo.page_files(page)
    assert sum(files.values()) == 1000 + 500 + page.stat().st_size
    assert export_demo.measure(page) == 0
    monkeypatch.setattr(export_demo, "PAGE_BUDGET_BYTES", 1000)
    assert export_demo.measure(page) == 1
    assert "OVER the 0 MB budget" in capsys.readouterr().out


@pytest.mark.parametrize(
    "changed, named",
    [({"dataset": "fashion-mnist"}, "dataset='fashion-mnist'"), ({"prior": "standard"}, "prior")],
)
def test_a_mask_cvae_the_page_cannot_run_is_refused(
    export_demo, checkpoint, tmp_path, changed, named
):
    ckpt = torch.load(checkpoint, weights_only=True)
    torch.save({**ckpt, "architecture": {**ckpt["architecture"], **changed}}, tmp_path / "o.pt")
    with pytest.raises(SystemExit, match=f"{named}.*needs a mask CVAE of MNIST"):
        export_demo.load_mask_cvae(tmp_path / "o.pt")


def test_weights_beyond_float16_are_refused(export_demo, checkpoint, tmp_path):
    ckpt = torch.load(checkpoint, weights_only=True)
    state = {k: v.float() for k, v in ckpt["state_dict"].items()}
    state["prior_net.net.0.weight"][0, 0] = 1e6  # finite in float32, infinite in float16
    torch.save({**ckpt, "state_dict": state}, tmp_path / "big.pt")
    with pytest.raises(
        SystemExit, match="big.pt: in float16, its weights prior_net.net.0.weight are not finite"
    ):
        export_demo.load_mask_cvae(tmp_path / "big.pt")
