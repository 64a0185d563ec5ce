"""The browser check of the demo page (``demo.html``), run by ``docs/check_rendered.py``.

The page is opened from ``file://`` with the browser's network off, as a reader who
downloaded the built docs would open it. :func:`check_demo_page` asserts that

- it loads only files of the build, :data:`export_demo.PAGE_BUDGET_BYTES` or less in all;
- ``cvaeDemo.complete`` and ``cvaeDemo.guess`` equal the package's forward pass
  (:func:`export_demo.reference_completions`) of the checkpoint that ``weights.js`` was
  exported from, to :data:`TOLERANCE`, on MNIST test digits with fixed draws;
- one ``complete`` of :data:`NUM_COMPLETIONS` takes :data:`MAX_COMPLETE_MS` or less
  (median of :data:`TIMED_CALLS` calls after :data:`WARM_UP_CALLS`);
- the controls work: a stroke drawn with the mouse adds ink, a quadrant button sets
  its layout, a rectangle dragged and the eraser brush (used with a finger) hide pixels,
  a test digit button shows that digit, an uploaded picture becomes the digit that
  :func:`cvae_pyro.beyond.pictures.picture_to_digit` makes of it, and the completions painted
  are 8, differ from each other, and change with the "new completions" button.
"""

from __future__ import annotations

# ruff: noqa: E402  (the checkout is put on sys.path before the package is imported)
import base64
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.actions import interaction
from selenium.webdriver.common.actions.action_builder import ActionBuilder
from selenium.webdriver.common.actions.pointer_input import PointerInput
from selenium.webdriver.common.by import By

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's cvae_pyro

import export_demo

from cvae_pyro.beyond.pictures import picture_to_digit
from cvae_pyro.cli.config import VALID_QUADRANTS
from cvae_pyro.masks import NUM_PIXELS, input_mask

PAGE = "demo.html"
NUM_COMPLETIONS = 8  #: completions per call, as the page shows them
TOLERANCE = 1e-4  #: largest difference allowed between the page's and Python's probabilities
MAX_COMPLETE_MS = 50.0  #: the longest one complete() of 8 may take
WARM_UP_CALLS, TIMED_CALLS = 3, 10
SEED = 17  #: numpy seed of the draws eps and of the random mask
READY_TIMEOUT_S = 60  #: longest wait for the weights to decode
PAINT_TIMEOUT_S = 10  #: longest wait for the page to repaint after an action
UPLOAD_SIZE = (84, 112)  #: (width, height) of an uploaded test picture, not square
SMALL_SIZE = (15, 13)  #: (width, height) of one smaller than MNIST's 20 px box
# Moves in CSS pixels from the centre of the 280 px drawing, with the bottom-left quadrant
# visible: the stroke and the rectangle inside that quadrant, the eraser across it.
STROKE = [(-80, 20), (20, 40), (30, 30), (20, -10)]
RECTANGLE = [(-130, 0), (0, 40)]
ERASER = [(-40, 100), (-40, 20)]
INPUT_CANVAS, SAMPLES = "#cvae-demo-input", "#cvae-demo-samples canvas"

READY_JS = """
const done = arguments[arguments.length - 1];
if (!window.cvaeDemo) { done("window.cvaeDemo is missing"); return; }
window.cvaeDemo.ready.then(() => done(null), (err) => done(String(err)));
"""
# The files the page loaded (resource timing records none under file://).
RESOURCES_JS = """
const urls = [...document.querySelectorAll("script[src]")].map(s => s.src);
urls.push(...[...document.querySelectorAll("link[href]")].filter(
  l => /stylesheet|icon|preload/.test(l.rel)).map(l => l.href));
urls.push(...[...document.images].map(i => i.currentSrc || i.src));
return urls.filter(u => u);
"""
TIME_JS = """
const [pixels, visible, eps, warmUp, calls] = arguments;
for (let i = 0; i < warmUp; i++) cvaeDemo.complete(pixels, visible, eps);
const ms = [];
for (let i = 0; i < calls; i++) {
  const start = performance.now();
  cvaeDemo.complete(pixels, visible, eps);
  ms.push(performance.now() - start);
}
return ms;
"""
# A fingerprint of every completion canvas: its pixels' sum, spread and a hash.
CANVASES_JS = """
return Array.from(document.querySelectorAll(arguments[0])).map(c => {
  const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
  let sum = 0, sq = 0, hash = 0;
  for (let i = 0; i < d.length; i += 4) {
    sum += d[i]; sq += d[i] * d[i]; hash = (hash * 31 + d[i] + d[i + 1] * 7 + d[i + 2] * 13) | 0;
  }
  const n = d.length / 4, mean = sum / n;
  return {mean: mean, sd: Math.sqrt(Math.max(0, sq / n - mean * mean)), hash: hash};
});
"""


def set_offline(driver, offline: bool) -> None:
    """Switch the browser's network off (or on again) through the DevTools protocol."""
    driver.execute_cdp_cmd("Network.enable", {})
    conditions = {
        "offline": offline,
        "latency": 0,
        "downloadThroughput": -1,
        "uploadThroughput": -1,
    }
    driver.execute_cdp_cmd("Network.emulateNetworkConditions", conditions)


def page_state(driver) -> tuple[np.ndarray, np.ndarray]:
    """The page's picture ``(784,)`` and visible mask ``(784,)`` bool."""
    state = driver.execute_script("return cvaeDemo.state();")
    return np.array(state["pixels"], dtype=np.float32), np.array(state["visible"]) > 0


def demo_digits(driver) -> tuple[list[int], np.ndarray]:
    """The page's test digits: labels and ``(N, 784)`` float32 pixels in [0, 1]."""
    digits = driver.execute_script("return window.CVAE_DEMO_INPUTS.digits;")
    raw = np.frombuffer(base64.b64decode(digits["bytes"]), dtype=np.uint8)
    return digits["labels"], (raw.reshape(-1, NUM_PIXELS) / np.float32(255)).astype(np.float32)


def comparison_cases(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pictures and masks ``(B, 784)`` to complete: each quadrant layout, and a random mask."""
    rng = np.random.default_rng(SEED)
    masks = [input_mask(q).numpy() for q in VALID_QUADRANTS]
    masks.append(rng.random(NUM_PIXELS) < 0.5)
    return images[[0, 3, 7, 9][: len(masks)]], np.stack(masks)


def check_matches_python(checks, driver, z_dim: int) -> tuple[float, list]:
    """The page's guess and completions equal the package's; returns the largest difference."""
    exported = driver.execute_script("return window.CVAE_DEMO_WEIGHTS.source.sha256;")
    source = export_demo.checkpoint_path()
    same = source.is_file() and export_demo.file_sha256(source) == exported
    checks.expect(
        same,
        PAGE,
        f"weights.js was not exported from {source} (set "
        f"{export_demo.CHECKPOINT_ENV_VAR} as for the build, or rebuild)",
    )
    if not same:
        return float("nan"), []
    cvae = export_demo.load_mask_cvae(source)
    _, images = demo_digits(driver)
    pixels, visible = comparison_cases(images)  # (B, 784) each
    eps = np.random.default_rng(SEED).standard_normal((NUM_COMPLETIONS, len(pixels), z_dim))
    eps = eps.astype(np.float32)  # (S, B, z)
    guess, probs = export_demo.reference_completions(
        cvae, torch.from_numpy(pixels), torch.from_numpy(visible), torch.from_numpy(eps)
    )  # (B, 784), (S, B, 784)
    worst = 0.0
    for b in range(len(pixels)):
        args = (pixels[b].tolist(), visible[b].astype(int).tolist(), eps[:, b].tolist())
        page = driver.execute_script("return cvaeDemo.complete(...arguments);", *args)
        page_guess = driver.execute_script("return cvaeDemo.guess(...arguments);", *args[:2])
        checks.expect(len(page) == NUM_COMPLETIONS, PAGE, f"complete gave {len(page)} arrays")
        diff = max(
            float(np.abs(np.array(page, dtype=np.float64) - probs[:, b].double().numpy()).max()),
            float(np.abs(np.array(page_guess) - guess[b].double().numpy()).max()),
        )
        worst = max(worst, diff)
    checks.expect(worst <= TOLERANCE, PAGE, f"JavaScript and Python differ by {worst:.2e}")
    case = (pixels[0].tolist(), visible[0].astype(int).tolist(), eps[:, 0].tolist())
    return worst, case


def check_speed(checks, driver, case: list) -> list[float]:
    """Time ``complete`` of 8 in the page; returns the timed calls in ms."""
    ms = driver.execute_script(TIME_JS, *case, WARM_UP_CALLS, TIMED_CALLS)
    median = float(np.median(ms))
    checks.expect(
        median <= MAX_COMPLETE_MS,
        PAGE,
        f"complete() of {NUM_COMPLETIONS} takes {median:.1f} ms (limit {MAX_COMPLETE_MS:.0f})",
    )
    return ms


def wait_for(driver, predicate, timeout_s: float = PAINT_TIMEOUT_S):
    """Poll ``predicate(driver)`` until it returns something true; returns it (or None)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if result := predicate(driver):
            return result
        time.sleep(0.05)
    return None


def canvases(driver) -> list[dict]:
    return driver.execute_script(CANVASES_JS, SAMPLES)


def repainted(driver, before: list[dict]):
    """The completion canvases once their fingerprints differ from ``before``."""
    return wait_for(driver, lambda d: (now := canvases(d)) != before and now)


def click(driver, selector: str) -> None:
    driver.find_element(By.CSS_SELECTOR, selector).click()


def drag(driver, moves: list[tuple[int, int]], touch: bool = False) -> None:
    """Press on the drawing canvas's centre, move by ``moves`` (CSS pixels), release."""
    canvas = driver.find_element(By.CSS_SELECTOR, INPUT_CANVAS)
    if not touch:
        chain = ActionChains(driver).move_to_element(canvas).click_and_hold()
        for dx, dy in moves:
            chain = chain.move_by_offset(dx, dy)
        chain.release().perform()
        return
    finger = PointerInput(interaction.POINTER_TOUCH, "finger")
    actions = ActionBuilder(driver, mouse=finger)
    actions.pointer_action.move_to(canvas).pointer_down()
    for dx, dy in moves:
        actions.pointer_action.move_by(dx, dy)
    actions.pointer_action.pointer_up()
    actions.perform()


def check_painted(checks, driver, shown: list[dict], what: str) -> None:
    """8 completions painted (not blank) and different from each other."""
    checks.expect(len(shown) == NUM_COMPLETIONS, PAGE, f"{len(shown)} completion canvases")
    blank = [i for i, c in enumerate(shown) if c["sd"] == 0]
    checks.expect(not blank, PAGE, f"{what}: completion canvases {blank} are blank")
    hashes = {c["hash"] for c in shown}
    checks.expect(len(hashes) == len(shown), PAGE, f"{what}: some completions are identical")


def check_controls(checks, driver) -> None:
    """Drive the page as a reader would; each step must change what it completes."""
    shown = wait_for(driver, lambda d: (c := canvases(d)) and all(x["sd"] > 0 for x in c) and c)
    shown = shown or canvases(driver)
    check_painted(checks, driver, shown, "first paint")

    click(driver, "#cvae-demo-layouts button[data-quadrants='1']")
    _, visible = page_state(driver)
    layout = np.array_equal(visible, input_mask(1).numpy())
    checks.expect(layout, PAGE, "the 1-quadrant button did not set that layout")
    shown = repainted(driver, shown) or shown

    click(driver, "input[name=cvae-demo-tool][value=draw]")
    pixels, _ = page_state(driver)
    drag(driver, STROKE)
    after, _ = page_state(driver)
    checks.expect((after > pixels).sum() > 10, PAGE, "a mouse stroke added no ink")
    new = repainted(driver, shown)
    checks.expect(new is not None, PAGE, "the completions did not change after a stroke")
    shown = new or shown
    check_painted(checks, driver, shown, "after a stroke")

    click(driver, "#cvae-demo-resample")
    new = repainted(driver, shown)
    checks.expect(new is not None, PAGE, "the button did not paint new completions")
    if new:
        changed = all(a["hash"] != b["hash"] for a, b in zip(new, shown, strict=True))
        checks.expect(changed, PAGE, "the button left some completions as they were")
        check_painted(checks, driver, new, "after the button")

    for tool, moves, touch in (("rectangle", RECTANGLE, False), ("eraser", ERASER, True)):
        _, visible = page_state(driver)
        click(driver, f"input[name=cvae-demo-tool][value={tool}]")
        drag(driver, moves, touch=touch)
        _, after = page_state(driver)
        how = "with a finger" if touch else "with the mouse"
        checks.expect((visible & ~after).sum() > 5, PAGE, f"the {tool} {how} hid no pixels")

    labels, images = demo_digits(driver)
    click(driver, f"#cvae-demo-digits button[data-digit='{len(labels) - 1}']")
    pixels, _ = page_state(driver)
    checks.expect(np.array_equal(pixels, images[-1]), PAGE, "picking a test digit failed")


def upload_pictures(images: np.ndarray, folder: Path) -> list[Path]:
    """Two pictures to upload, each testing a step of making a picture MNIST-like.

    - a test digit scaled to :data:`UPLOAD_SIZE` and inverted (dark ink on light paper):
      grey levels, inversion, resampling;
    - a '7' drawn in dark ink on a transparent background, its ink 25 x 40 pixels, so that
      the scaled width is 12.5 and must round to even, as Python's round() does;
    - a test digit shrunk to :data:`SMALL_SIZE`, light on dark, so that it is scaled up.
    """
    ink = Image.fromarray((images[2].reshape(28, 28) * 255).astype(np.uint8))
    paper = Image.eval(ink.resize(UPLOAD_SIZE, Image.Resampling.BICUBIC), lambda v: 255 - v)
    seven = Image.new("RGBA", (60, 60), (0, 0, 0, 0))
    ImageDraw.Draw(seven).line([(10, 6), (33, 6), (18, 44)], fill=(20, 20, 20, 255), width=3)
    small = Image.fromarray((images[5].reshape(28, 28) * 255).astype(np.uint8))
    paths = [folder / "digit.png", folder / "seven.png", folder / "small.png"]
    paper.convert("RGB").save(paths[0])
    seven.save(paths[1])
    small.resize(SMALL_SIZE, Image.Resampling.BILINEAR).save(paths[2])
    return paths


def check_upload(checks, driver, folder: Path) -> float:
    """Upload pictures; the page's digit must be picture_to_digit's. Returns the largest gap."""
    _, images = demo_digits(driver)
    worst = 0.0
    for path in upload_pictures(images, folder):
        before, _ = page_state(driver)
        driver.find_element(By.CSS_SELECTOR, "#cvae-demo-upload").send_keys(str(path))
        found = wait_for(driver, lambda d, old=before: not np.array_equal(page_state(d)[0], old))
        checks.expect(bool(found), PAGE, f"uploading {path.name} did not change the digit")
        pixels, _ = page_state(driver)
        diff = float(np.abs(pixels - picture_to_digit(path).numpy()).max())
        checks.expect(diff <= TOLERANCE, PAGE, f"{path.name} made MNIST-like differs by {diff:.2e}")
        worst = max(worst, diff)
    return worst


def check_page_size(checks, driver, html: Path) -> None:
    """Only files of the build, and within the budget."""
    urls = [driver.current_url, *driver.execute_script(RESOURCES_JS)]
    root = html.resolve().as_uri()
    foreign = [u for u in urls if not u.startswith(root)]
    checks.expect(not foreign, PAGE, f"loads files from outside the build: {foreign[:3]}")
    files = {Path(html, u[len(root) + 1 :].split("?")[0]) for u in urls if u.startswith(root)}
    total = sum(f.stat().st_size for f in files)
    budget = export_demo.PAGE_BUDGET_BYTES
    checks.expect(total <= budget, PAGE, f"its {len(files)} files weigh {total / 1e6:.2f} MB")
    print(
        f"check_demo: {PAGE} loads {len(files)} files, {total / 1e6:.2f} MB "
        f"(budget {budget / 1e6:.0f} MB)"
    )


def check_demo_page(checks, driver, html: Path, screenshots: Path) -> None:
    """Every check of the module docstring; screenshots ``demo.png`` and ``demo_widget.png``."""
    set_offline(driver, True)
    try:
        driver.get((html / PAGE).resolve().as_uri())
        driver.set_script_timeout(READY_TIMEOUT_S)
        error = driver.execute_async_script(READY_JS)
        checks.expect(error is None, PAGE, f"the model did not load: {error}")
        if error is not None:
            return
        check_page_size(checks, driver, html)
        z_dim = driver.execute_script("return cvaeDemo.zDim;")
        worst, case = check_matches_python(checks, driver, z_dim)
        if case:
            ms = check_speed(checks, driver, case)
            print(
                f"check_demo: JavaScript vs Python, largest difference {worst:.1e}; "
                f"complete() of {NUM_COMPLETIONS}: median {np.median(ms):.1f} ms "
                f"(min {min(ms):.1f}, max {max(ms):.1f}) of {len(ms)} calls"
            )
        check_controls(checks, driver)
        with tempfile.TemporaryDirectory(prefix="cvae_pyro_demo_") as folder:
            gap = check_upload(checks, driver, Path(folder))
        print(f"check_demo: uploaded pictures made MNIST-like, page vs Python: {gap:.1e}")
        driver.execute_script("document.getElementById('cvae-demo-upload').value = '';")
        click(driver, "input[name=cvae-demo-tool][value=draw]")
        click(driver, "#cvae-demo-digits button[data-digit='4']")
        click(driver, "#cvae-demo-layouts button[data-quadrants='2']")
        time.sleep(0.5)  # the next animation frame paints the completions
        driver.find_element(By.ID, "cvae-demo").screenshot(str(screenshots / "demo_widget.png"))
    finally:
        set_offline(driver, False)
