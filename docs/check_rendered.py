"""Check the built documentation in a real browser: ``python docs/check_rendered.py``.

Serves ``docs/_build/html`` on 127.0.0.1, opens every page that matters in
headless Chromium (through Debian's ``chromium`` and ``chromium-driver`` and
Selenium), waits for MathJax, and asserts on the *rendered* DOM:

- every page loads only from the local server (no CDN, no web fonts);
- the landing page shows the results table and the samples figure;
- every notebook page shows as many loaded, non-empty images as its notebook
  has image outputs;
- every equation was typeset by MathJax: each ``.math`` element holds an
  ``mjx-container`` and no raw ``$...$``, ``\\(`` or ``\\[`` is left in the text;
- the API reference lists the package's public classes and every public module.

Screenshots of the landing, model, tutorial and table pages go to
``docs/_build/screenshots/``. Exits 1 with one line per failed check.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import pkgutil
import shutil
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
HTML = DOCS / "_build" / "html"
SCREENSHOTS = DOCS / "_build" / "screenshots"
WINDOW = (1280, 1000)  # browser viewport, CSS pixels
MATHJAX_TIMEOUT_S = 30  # longest wait for MathJax to finish typesetting
TABLE_ROWS = ("NN (baseline)", "CVAE (IS)", "Performance gap")  # must show on the landing page
SCREENSHOT_PAGES = {  # file name: page
    "landing.png": "index.html",
    "model.png": "model.html",
    "tutorial.png": "notebooks/01_quadrant_cvae.html",
    "cll_table.png": "notebooks/02_cll_table.html",
}
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-dev-shm-usage",
    "--no-first-run",
    f"--window-size={WINDOW[0]},{WINDOW[1]}",
)

# Runs in the page: what the checks below need, read from the rendered DOM.
PAGE_REPORT_JS = """
const done = arguments[arguments.length - 1];
const deadline = Date.now() + arguments[0] * 1000;
const article = document.querySelector("article") || document.body;
function report(mathjax) {
  const imgs = Array.from(article.querySelectorAll("img"));
  const clone = article.cloneNode(true);
  clone.querySelectorAll("pre, code, .highlight, mjx-container, script, style")
       .forEach(e => e.remove());
  const math = Array.from(article.querySelectorAll(".math"));
  done({
    mathjax: mathjax,
    title: document.title,
    text: article.innerText,
    prose: clone.textContent,
    images: imgs.map(i => ({src: i.currentSrc || i.src, complete: i.complete,
                            width: i.naturalWidth, height: i.naturalHeight,
                            shown: i.getBoundingClientRect().width})),
    output_images: article.querySelectorAll(".cell_output img").length,
    math_elements: math.length,
    math_untypeset: math.filter(e => !e.querySelector("mjx-container")).length,
    mjx_containers: article.querySelectorAll("mjx-container").length,
    tables: Array.from(article.querySelectorAll("table")).map(t => t.innerText),
    resources: performance.getEntriesByType("resource").map(r => r.name),
    ids: Array.from(article.querySelectorAll("[id]")).map(e => e.id),
    links: Array.from(article.querySelectorAll("a[href]")).map(a => a.getAttribute("href")),
  });
}
function wait() {
  if (document.readyState === "complete" && Array.from(document.images).every(i => i.complete)) {
    const mj = window.MathJax;
    if (mj && mj.startup && mj.startup.promise) {
      mj.startup.promise.then(() => report(true), () => report(false));
      return;
    }
    const loading = Array.from(document.scripts).some(s => /mathjax/i.test(s.src));
    if (!loading || Date.now() > deadline) { report(false); return; }
  }
  if (Date.now() > deadline) { report(false); return; }
  setTimeout(wait, 100);
}
wait();
"""


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@contextmanager
def serve(folder: Path) -> Iterator[str]:
    """Serve ``folder`` on a free port of 127.0.0.1; yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def chromium(profile: Path):
    """A headless Chromium driven by chromedriver, with a fresh profile folder."""
    os.environ.setdefault("SE_OFFLINE", "true")  # never let Selenium fetch drivers
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    if binary is None or driver_path is None:
        sys.exit("check_rendered: install chromium and chromium-driver (apt-get install -y ...)")
    options.binary_location = binary
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=driver_path))
    driver.set_script_timeout(MATHJAX_TIMEOUT_S + 10)
    try:
        yield driver
    finally:
        driver.quit()


def open_page(driver, base: str, page: str) -> dict:
    """Load ``page`` and return the report of PAGE_REPORT_JS."""
    driver.get(base + page)
    return driver.execute_async_script(PAGE_REPORT_JS, MATHJAX_TIMEOUT_S)


def full_screenshot(driver, path: Path) -> None:
    """Save the whole page (not just the viewport) as PNG."""
    import base64

    metrics = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})
    size = metrics["cssContentSize"]
    shot = driver.execute_cdp_cmd(
        "Page.captureScreenshot",
        {
            "format": "png",
            "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1},
        },
    )
    path.write_bytes(base64.b64decode(shot["data"]))


class Checks:
    """Collects failed checks; each is one line naming the page."""

    def __init__(self) -> None:
        self.failures: list[str] = []
        self.passed = 0

    def expect(self, ok: bool, page: str, what: str) -> None:
        if ok:
            self.passed += 1
        else:
            self.failures.append(f"{page}: {what}")


def check_common(checks: Checks, page: str, report: dict, base: str) -> None:
    """Local resources only, images loaded, and every equation typeset."""
    foreign = [r for r in report["resources"] if not r.startswith(base)]
    checks.expect(not foreign, page, f"loads resources from outside the build: {foreign[:3]}")
    for img in report["images"]:
        loaded = img["complete"] and img["width"] > 0 and img["height"] > 0 and img["shown"] > 0
        checks.expect(loaded, page, f"image not loaded or empty: {img['src']}")
    if report["math_elements"]:
        checks.expect(report["mathjax"], page, "MathJax did not finish typesetting")
        checks.expect(
            report["math_untypeset"] == 0,
            page,
            f"{report['math_untypeset']} of {report['math_elements']} equations not typeset",
        )
    prose = report["prose"]
    for raw in ("\\(", "\\)", "\\[", "\\begin{", "$$"):
        checks.expect(raw not in prose, page, f"raw math {raw!r} left in the text")
    checks.expect(prose.count("$") < 2, page, "raw $...$ math left in the text")


def count_image_outputs(notebook: Path) -> int:
    """Image outputs saved in a notebook (what its page must show)."""
    nb = json.loads(notebook.read_text())
    return sum(
        any(key.startswith("image/") for key in out.get("data", {}))
        for cell in nb["cells"]
        for out in cell.get("outputs", [])
    )


def public_modules() -> list[str]:
    """Public modules of cvae_pyro, as docs/conf.py documents them."""
    sys.path.insert(0, str(ROOT))
    import cvae_pyro

    return sorted(m.name for m in pkgutil.iter_modules(cvae_pyro.__path__) if m.name[0] != "_")


def public_classes() -> list[str]:
    """Classes the package re-exports (cvae_pyro.__all__)."""
    import inspect

    import cvae_pyro

    return [n for n in cvae_pyro.__all__ if inspect.isclass(getattr(cvae_pyro, n))]


def run_checks(driver, base: str) -> Checks:
    checks = Checks()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    page = "index.html"
    report = open_page(driver, base, page)
    check_common(checks, page, report, base)
    tables = [t for t in report["tables"] if all(row in t for row in TABLE_ROWS)]
    checks.expect(bool(tables), page, f"no results table with rows {TABLE_ROWS}")
    if tables:
        lines = [line for line in tables[0].splitlines() if line.strip()]
        checks.expect(len(lines) >= 6, page, f"results table has only {len(lines)} lines")
    samples = [i for i in report["images"] if "q1_samples" in i["src"]]
    checks.expect(len(samples) == 1, page, "the samples figure is not on the page")
    checks.expect(report["mjx_containers"] > 0, page, "no equation typeset by MathJax")

    page = "model.html"
    report = open_page(driver, base, page)
    check_common(checks, page, report, base)
    checks.expect(report["mjx_containers"] >= 10, page, "fewer than 10 typeset equations")

    notebooks = sorted((ROOT / "notebooks").glob("*.ipynb"))
    checks.expect(bool(notebooks), "notebooks/", "no notebooks found")
    for nb in notebooks:
        page = f"notebooks/{nb.stem}.html"
        report = open_page(driver, base, page)
        check_common(checks, page, report, base)
        expected = count_image_outputs(nb)
        checks.expect(expected > 0, page, "its notebook has no figure outputs (run it first)")
        shown = report["output_images"]
        checks.expect(shown == expected, page, f"{shown} figures shown, notebook has {expected}")
        if report["math_elements"]:
            checks.expect(report["mjx_containers"] > 0, page, "no equation typeset by MathJax")

    page = "api/index.html"
    report = open_page(driver, base, page)
    check_common(checks, page, report, base)
    for name in public_classes():
        checks.expect(name in report["text"], page, f"public class {name} not listed")
    for module in public_modules():
        checks.expect(f"{module}.html" in report["links"], page, f"no page for cvae_pyro.{module}")
        sub = f"api/{module}.html"
        sub_report = open_page(driver, base, sub)
        check_common(checks, sub, sub_report, base)
        checks.expect(
            f"module-cvae_pyro.{module}" in sub_report["ids"], sub, "module not documented"
        )
    report = open_page(driver, base, "api/models.html")
    for cls in ("CVAE", "BaselineNN"):
        anchor = f"cvae_pyro.models.{cls}"
        checks.expect(anchor in report["ids"], "api/models.html", f"{anchor} not documented")

    for name, page in SCREENSHOT_PAGES.items():
        if (HTML / page).is_file():
            open_page(driver, base, page)
            full_screenshot(driver, SCREENSHOTS / name)
    return checks


def main() -> int:
    if not (HTML / "index.html").is_file():
        print(f"check_rendered: {HTML / 'index.html'} is missing; run `bash docs/build.sh` first")
        return 1
    with tempfile.TemporaryDirectory(prefix="cvae_pyro_chromium_") as profile:
        with serve(HTML) as base, chromium(Path(profile)) as driver:
            checks = run_checks(driver, base)
    for line in checks.failures:
        print(f"FAILED {line}")
    print(f"check_rendered: screenshots in {SCREENSHOTS}")
    print(f"check_rendered: {checks.passed} passed, {len(checks.failures)} failed")
    return 1 if checks.failures else 0


if __name__ == "__main__":
    sys.exit(main())
