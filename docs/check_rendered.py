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
- the API reference lists the package's public classes and every public module;
- the landing and model pages link the paper and Pyro's CVAE and VAE tutorials;
- the notebooks page has a working ``.ipynb`` download link per notebook;
- each notebook page shows what :data:`NOTEBOOK_PAGES` asks of it (texts, elements,
  links), and its setup cell folded unless the notebook tags that cell to be removed;
- the results chart of notebook 02 is shown at its natural size (so its 9 pt text
  reads as 9 pt) with a caption, and the landing figure has its caption;
- every page of :data:`PAGES` renders with its title and texts;
- the command-line page lists every option of every command's parser
  (:func:`cvae_pyro.cli.config.build_parser`), with the setting it fills and its help text;
- the performance page shows a table for each benchmark JSON it reads;
- at a desktop's width (1280 CSS px) every display equation of the model page fits on
  the page on one line, without scrolling; at a phone's width (390 CSS px) none is cut off: each
  fits in the screen or scrolls inside its own box;
- at a phone's width every table of the pages of :data:`TABLE_PAGES` fits in the
  screen or scrolls sideways inside its own box, and no page scrolls sideways as a
  whole;
- the demo page, opened from ``file://`` with the network off: it loads only files of
  the build, no more than 10 MB of them; its ``cvaeDemo.complete`` gives the package's
  Python completions of the same float16 weights (and its guess the baseline's) to 1e-4
  on MNIST test digits with fixed draws, in at most 50 ms for 8 completions; a stroke
  drawn with the mouse, a quadrant layout, a rectangle dragged, the eraser brush used
  with a finger, a test digit picked and a picture uploaded (made MNIST-like as
  :func:`cvae_pyro.beyond.pictures.picture_to_digit` makes it) change what the page completes,
  and the button paints 8 new completions that differ from each other.

Screenshots of the pages of :data:`SCREENSHOT_PAGES`, 1280 and 390 px wide, and of the
demo page go to ``docs/_build/screenshots/``; ``--readme-screenshot`` also saves the
demo's controls and completions as ``docs/_static/demo_screenshot.png`` (the README's).
Exits 1 with one line per failed check.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import pkgutil
import re
import shutil
import sys
import tempfile
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from check_demo import check_demo_page

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
HTML = DOCS / "_build" / "html"
SCREENSHOTS = DOCS / "_build" / "screenshots"
README_SCREENSHOT = DOCS / "_static" / "demo_screenshot.png"  #: the demo, as the README shows it
WINDOW = (1280, 1000)  # browser viewport, CSS pixels
MATHJAX_TIMEOUT_S = 30  # longest wait for MathJax to finish typesetting
#: Rows the landing page's results table must show: the pooled seeds and Pyro's numbers.
TABLE_ROWS = (
    "NN (deterministic baseline)",
    "CVAE, importance sampling",
    "CVAE tutorial: NN",  # after Pyro's, whose quote Sphinx curls
)
SCREENSHOT_PAGES = {  # file name (without the width): page
    "landing": "index.html",
    "results": "results.html",
    "cli": "cli.html",
    "reliability": "reliability.html",
    "performance": "performance.html",
    "model": "model.html",
    "complete": "complete.html",
    "tutorial": "notebooks/01_quadrant_cvae.html",
    "cll_table": "notebooks/02_cll_table.html",
}
PHONE = (390, 844)  # a phone's viewport, CSS pixels: no equation or table may be cut off
#: Pages besides the landing, model, notebook and API pages: page -> texts it must show.
PAGES = {
    "results.html": (
        "Three seeds",
        "over 3 seeds",
        "CVAE tutorial: NN",
        "CVAE (IS)",
        "Performance gap",
        "How each number was obtained",
        "Beyond the paper: a training chosen on validation",
        "TraceMeanField_ELBO, KL warm-up 5 epochs (IS)",
    ),
    "cli.html": ("python -m cvae_pyro.train", "--combine", "--style-of", "usage:"),
    "complete.html": ("One model against the specialists", "Fashion-MNIST", "--keep"),
    "label.html": ("generated samples read as the digit asked for", "--digit all"),
    "style.html": ("--style-of", "--interpolate", "How the class is read"),
    "data.html": ("CVAE_PYRO_DATA", "Quadrant layout", "Splits"),
    "reliability.html": ("--resume", "SIGTERM", "Exit statuses", "Not covered"),
    "performance.html": ("Intel Xeon", "AVX512-BF16", "AMX", "matrix products"),
    "layout.html": ("Modules by part", "cli.cll_table", "what it holds"),
}
#: Pages whose tables must stay readable at a phone's width.
TABLE_PAGES = (
    "index.html",
    "results.html",
    "cli.html",
    "performance.html",
    "reliability.html",
    "notebooks/02_cll_table.html",
)
#: Figures of the performance page: a table must show each (read from benchmarks/*.json).
PERFORMANCE_ROWS = (
    "step / its matrix products",
    "both (what training runs)",
    "median (range)",
    "CVAE epoch",
    "CVAE, IS (S = 100), nats",
)
PAPER_URL = (  # Sohn, Lee and Yan (2015) on the NeurIPS proceedings site
    "https://proceedings.neurips.cc/paper_files/paper/2015/hash/"
    "8d55a249e6baa5c06772297520da2051-Abstract.html"
)
OUTSIDE_LINKS = {  # name: URL; the landing and model pages link each of them
    "the paper": PAPER_URL,
    "Pyro's CVAE tutorial": "https://pyro.ai/examples/cvae.html",
    "Pyro's VAE tutorial": "https://pyro.ai/examples/vae.html",
}


@dataclass(frozen=True)
class PageExpect:
    """What a notebook page must show, beyond the checks every notebook page gets.

    Attributes:
        texts: strings the article's text must contain.
        selectors: CSS selectors that must each match at least one element of the article.
        links: URLs the article must link to.
    """

    texts: tuple[str, ...] = ()
    selectors: tuple[str, ...] = ()
    links: tuple[str, ...] = ()


#: Per notebook (file stem): what its page must show. A notebook missing here gets
#: only the common checks. This is where a notebook's own checks go, for example the
#: model graph of notebook 01 (a selector for its image) and its editable model cell
#: (a line of the cell's code in ``texts``): :func:`expect_page_shows` runs them.
NOTEBOOK_PAGES = {
    "01_quadrant_cvae": PageExpect(
        texts=(
            "# The CVAE's model: p(z|x) p(y|x,z)",  # the editable model cell
            "svi.step",  # the explicit training loop
            "format_shapes",
            "Predictive",
        ),
        selectors=(
            "div.cell_output img[src$='.svg']",  # the model and guide graphs
            "div.cell_input div.highlight-ipython3 pre",  # code cells with syntax colours
        ),
        links=(PAPER_URL, OUTSIDE_LINKS["Pyro's VAE tutorial"]),
    ),
    "02_cll_table": PageExpect(
        texts=("Compared with Pyro's tutorial", "rerun = False", "Performance gap"),
        selectors=("figure#fig-cll-bars figcaption",),
        links=(PAPER_URL, OUTSIDE_LINKS["Pyro's CVAE tutorial"]),
    ),
    "04_inpainting": PageExpect(
        texts=("A picture that is not from MNIST", "One model against the specialists"),
        selectors=("div.cell_output img",),
    ),
    "03_label_conditional": PageExpect(
        texts=("Ask for a '2'", "generated samples read as the digit asked for"),
        selectors=tuple(
            f"figure#fig-label-{name} figcaption"
            for name in ("twos", "digits", "reconstructions", "latent-scatter", "latent-grid")
        ),
    ),
    "05_pyro_objectives": PageExpect(
        texts=("TraceMeanField_ELBO", "poutine.scale", "logsumexp", "Prior against posterior"),
        selectors=("div.cell_output img",),
    ),
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
    table_cells: Array.from(article.querySelectorAll("table")).map(
      t => Array.from(t.rows).map(r => Array.from(r.cells).map(c => c.innerText.trim()))),
    resources: performance.getEntriesByType("resource").map(r => r.name),
    ids: Array.from(article.querySelectorAll("[id]")).map(e => e.id),
    links: Array.from(article.querySelectorAll("a[href]")).map(a => a.getAttribute("href")),
    downloads: Array.from(article.querySelectorAll("a[download]")).map(a => a.href),
    captions: Array.from(article.querySelectorAll("figcaption")).map(f => f.innerText),
    folded: Array.from(article.querySelectorAll("details")).map(
      d => ({open: d.open, classes: d.className, text: d.textContent})),
    stylesheets: Array.from(document.styleSheets).map(s => s.href || ""),
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


# Runs in the page: each display equation, and whether it is cut off at this width. An
# equation is fine when it fits in the viewport, or when it (or a box around it) scrolls
# sideways and that box itself fits in the viewport.
EQUATIONS_JS = """
const vw = document.documentElement.clientWidth;
return Array.from(document.querySelectorAll('article mjx-container[display="true"]')).map(eq => {
  const r = eq.getBoundingClientRect();
  let box = null;
  for (let e = eq; e && e.tagName !== "ARTICLE"; e = e.parentElement) {
    const ox = getComputedStyle(e).overflowX;
    if (ox === "auto" || ox === "scroll") { box = e; break; }
  }
  const b = box ? box.getBoundingClientRect() : null;
  const fits = eq.scrollWidth <= eq.clientWidth + 1 && r.left >= -1 && r.right <= vw + 1;
  const scrolls = box !== null && b.left >= -1 && b.right <= vw + 1;
  return {tex: (eq.getAttribute("aria-label") || eq.textContent).slice(0, 60),
          width: eq.scrollWidth, shown: Math.round(r.width), fits: fits, scrolls: scrolls,
          lines: Math.max(1, eq.querySelectorAll("mjx-mtr, mjx-mlabeledtr").length)};
});
"""


# Runs in the page: each table of the article, and whether it is cut off at this width. A
# table is fine when it fits in the viewport, or when a box around it inside the article
# scrolls sideways and that box fits in the viewport. Also whether the page as a whole
# scrolls sideways (it must not: the reader would lose the text's left edge).
TABLES_JS = """
const vw = document.documentElement.clientWidth;
const tables = Array.from(document.querySelectorAll("article table")).map(t => {
  const r = t.getBoundingClientRect();
  let box = null;
  for (let e = t.parentElement; e && e.tagName !== "ARTICLE"; e = e.parentElement) {
    const ox = getComputedStyle(e).overflowX;
    if (ox === "auto" || ox === "scroll") { box = e; break; }
  }
  const b = box ? box.getBoundingClientRect() : null;
  const fits = r.left >= -1 && r.right <= vw + 1;
  const scrolls = box !== null && b.left >= -1 && b.right <= vw + 1 &&
                  box.scrollWidth >= t.getBoundingClientRect().width - 1;
  return {head: t.innerText.slice(0, 50).replace(/\\s+/g, " "), width: Math.round(r.width),
          fits: fits, scrolls: scrolls};
});
return {tables: tables, page_width: document.documentElement.scrollWidth, viewport: vw};
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


def expect_page_shows(checks: Checks, driver, page: str, report: dict, expect: PageExpect) -> None:
    """The checks of one :class:`PageExpect` on a page opened by :func:`open_page`."""
    shown = report["text"].replace("\u2018", "'").replace("\u2019", "'")  # Sphinx's quotes
    for text in expect.texts:
        checks.expect(text in shown, page, f"text {text!r} not on the page")
    for selector in expect.selectors:
        found = driver.execute_script(
            "const a = document.querySelector('article') || document.body;"
            "return a.querySelectorAll(arguments[0]).length;",
            selector,
        )
        checks.expect(found > 0, page, f"no element matches {selector!r}")
    for url in expect.links:
        checks.expect(url in report["links"], page, f"no link to {url}")


def setup_cell_tags(notebook: Path) -> set[str]:
    """The tags of a notebook's setup cell: its first code cell that imports something."""
    nb = json.loads(notebook.read_text())
    for cell in nb["cells"]:
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        if cell["cell_type"] == "code" and "import " in source:
            return set(cell.get("metadata", {}).get("tags", []))
    return set()


def check_setup_folded(checks: Checks, page: str, report: dict, notebook: Path) -> None:
    """The notebook's setup cell is folded on its page, unless it is tagged to be removed."""
    if setup_cell_tags(notebook) & {"remove-cell", "remove-input"}:
        return
    folded = [
        d
        for d in report["folded"]
        if "above-input" in d["classes"] and not d["open"] and "import " in d["text"]
    ]
    checks.expect(bool(folded), page, "no folded setup cell (hide-input tag with imports)")


def check_outside_links(checks: Checks, page: str, report: dict) -> None:
    """The paper and Pyro's tutorials are linked from ``page``."""
    for name, url in OUTSIDE_LINKS.items():
        checks.expect(url in report["links"], page, f"no link to {name} ({url})")


def check_downloads(checks: Checks, page: str, report: dict, notebooks: list[Path]) -> None:
    """One download link per notebook, each serving the notebook's bytes."""
    for nb in notebooks:
        links = [u for u in report["downloads"] if u.endswith("/" + nb.name)]
        checks.expect(len(links) == 1, page, f"{len(links)} download links to {nb.name}")
        if links:
            with urllib.request.urlopen(links[0]) as response:  # the local server
                served = response.read()
            checks.expect(served == nb.read_bytes(), page, f"download of {nb.name} differs")


@contextmanager
def phone_width(driver):
    """Emulate a phone's viewport (:data:`PHONE`) for the pages opened inside."""
    width, height = PHONE
    metrics = {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": True}
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
    try:
        yield
    finally:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def check_equations(checks: Checks, driver, base: str, page: str) -> None:
    """At a desktop's width every display equation fits; at a phone's none is cut off."""
    report = open_page(driver, base, page)
    where = f"{page} at {WINDOW[0]} px"
    equations = driver.execute_script(EQUATIONS_JS)
    checks.expect(bool(equations), where, "no display equation found")
    for eq in equations:
        checks.expect(eq["fits"], where, f"equation does not fit ({eq['width']} px): {eq['tex']}")
        one_line = eq["lines"] == 1
        checks.expect(one_line, where, f"equation broken into {eq['lines']} lines: {eq['tex']}")
    with phone_width(driver):
        report = open_page(driver, base, page)
        where = f"{page} at {PHONE[0]} px"
        checks.expect(report["mathjax"], where, "MathJax did not finish typesetting")
        for eq in driver.execute_script(EQUATIONS_JS):
            ok = eq["fits"] or eq["scrolls"]
            checks.expect(ok, where, f"equation cut off ({eq['width']} px wide): {eq['tex']}")


def check_tables_on_a_phone(checks: Checks, driver, base: str, page: str) -> None:
    """At a phone's width every table fits or scrolls in its own box; the page does not."""
    with phone_width(driver):
        open_page(driver, base, page)
        found = driver.execute_script(TABLES_JS)
    where = f"{page} at {PHONE[0]} px"
    checks.expect(bool(found["tables"]), where, "no table found")
    for table in found["tables"]:
        ok = table["fits"] or table["scrolls"]
        checks.expect(ok, where, f"table cut off ({table['width']} px wide): {table['head']}")
    sideways = found["page_width"] <= found["viewport"] + 1
    checks.expect(
        sideways, where, f"the page is {found['page_width']} px wide, wider than the screen"
    )


def take_screenshots(driver, base: str) -> None:
    """Each page of :data:`SCREENSHOT_PAGES` at a desktop's and at a phone's width."""
    for name, page in SCREENSHOT_PAGES.items():
        if not (HTML / page).is_file():
            continue
        open_page(driver, base, page)
        full_screenshot(driver, SCREENSHOTS / f"{name}_{WINDOW[0]}px.png")
        with phone_width(driver):
            open_page(driver, base, page)
            full_screenshot(driver, SCREENSHOTS / f"{name}_{PHONE[0]}px.png")


def cli_options() -> dict[str, tuple[list[str], list[str]]]:
    """Per command: every option string of its parser, and its config dataclass's fields."""
    import dataclasses

    sys.path.insert(0, str(ROOT))
    from cvae_pyro.cli.config import COMMANDS, build_parser

    found = {}
    for name, command in COMMANDS.items():
        options = [o for a in build_parser(name)._actions for o in a.option_strings]
        found[name] = (options, [f.name for f in dataclasses.fields(command)])
    return found


def check_cli_page(checks: Checks, page: str, report: dict) -> None:
    """One table per command listing every option of its parser and the field each fills."""
    for name, (options, fields) in cli_options().items():
        tables = [
            table
            for table in report["table_cells"]
            if table
            and table[0][:2] == ["option", "setting"]
            and {row[1] for row in table[1:]} - {""} == set(fields)
        ]
        checks.expect(len(tables) == 1, page, f"no table of every option of {name}")
        if not tables:
            continue
        listed = {o for row in tables[0][1:] for o in re.findall(r"--?[\w-]+", row[0])}
        for option in options:
            checks.expect(option in listed, page, f"{name} option {option} is not listed")
        for row in tables[0][1:]:
            checks.expect(bool(row[-1]), page, f"{name} {row[0]} has no meaning")
        usage = f"usage: python -m cvae_pyro.{name}"
        checks.expect(usage in report["text"], page, f"no usage line of {name}")


def count_image_outputs(notebook: Path) -> int:
    """Image outputs saved in a notebook (what its page must show)."""
    nb = json.loads(notebook.read_text())
    return sum(
        any(key.startswith("image/") for key in out.get("data", {}))
        for cell in nb["cells"]
        for out in cell.get("outputs", [])
    )


def conf_constant(name: str):
    """A literal assigned in docs/conf.py, read without running it (it writes files)."""
    import ast

    for node in ast.parse((DOCS / "conf.py").read_text()).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == name for t in node.targets):
            return ast.literal_eval(node.value)
    raise KeyError(f"docs/conf.py assigns no {name}")


def public_modules() -> list[str]:
    """Public modules of cvae_pyro, as docs/conf.py documents them (without the shims)."""
    sys.path.insert(0, str(ROOT))
    import cvae_pyro

    shims = conf_constant("SHIMS")
    found = pkgutil.iter_modules(cvae_pyro.__path__)
    return sorted(m.name for m in found if m.name[0] != "_" and m.name not in shims)


def public_classes() -> list[str]:
    """Classes the package re-exports (cvae_pyro.__all__)."""
    import inspect

    import cvae_pyro

    return [n for n in cvae_pyro.__all__ if inspect.isclass(getattr(cvae_pyro, n))]


def run_checks(driver, base: str, demo_only: bool = False) -> Checks:
    checks = Checks()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    if demo_only:
        check_demo_page(checks, driver, HTML, SCREENSHOTS)
        return checks

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
    captioned = any("blurred average" in c for c in report["captions"])
    checks.expect(captioned, page, "the samples figure has no caption saying what it shows")
    check_outside_links(checks, page, report)
    css = any("/_static/custom.css" in s for s in report["stylesheets"])
    checks.expect(css, page, "custom.css (tables, equations, captions) is not loaded")
    header_rule = driver.execute_script(
        "const th = document.querySelector('article table thead th');"
        "return th ? getComputedStyle(th).borderBottomWidth : null;"
    )
    checks.expect(header_rule == "2px", page, f"table header not styled (rule {header_rule})")

    page = "model.html"
    report = open_page(driver, base, page)
    check_common(checks, page, report, base)
    checks.expect(report["mjx_containers"] >= 10, page, "fewer than 10 typeset equations")
    check_outside_links(checks, page, report)
    check_equations(checks, driver, base, page)

    for page, texts in PAGES.items():
        report = open_page(driver, base, page)
        check_common(checks, page, report, base)
        checks.expect(report["title"].strip() != "", page, "no title")
        expect_page_shows(checks, driver, page, report, PageExpect(texts=texts))
        if page == "cli.html":
            check_cli_page(checks, page, report)
        if page == "performance.html":
            for row in PERFORMANCE_ROWS:
                shown = any(row in table for table in report["tables"])
                checks.expect(shown, page, f"no table shows {row!r}")
        if page == "label.html":
            digits = [i for i in report["images"] if "label_digits" in i["src"]]
            checks.expect(len(digits) == 1, page, "the label CVAE's digits figure is not shown")
    for page in TABLE_PAGES:
        check_tables_on_a_phone(checks, driver, base, page)

    notebooks = sorted((ROOT / "notebooks").glob("*.ipynb"))
    checks.expect(bool(notebooks), "notebooks/", "no notebooks found")
    page = "notebooks.html"
    report = open_page(driver, base, page)
    check_common(checks, page, report, base)
    check_downloads(checks, page, report, notebooks)
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
        if nb.stem in NOTEBOOK_PAGES:
            expect_page_shows(checks, driver, page, report, NOTEBOOK_PAGES[nb.stem])
        check_setup_folded(checks, page, report, nb)

    page = "notebooks/02_cll_table.html"
    report = open_page(driver, base, page)
    charts = [i for i in report["images"] if i["width"] > 0]
    checks.expect(bool(charts), page, "no chart")
    for img in charts:  # shown smaller than drawn, the chart's 9 pt text would read smaller
        full_size = img["shown"] >= 0.95 * img["width"]
        checks.expect(full_size, page, f"chart shown {img['shown']} px wide, drawn {img['width']}")

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

    take_screenshots(driver, base)
    check_demo_page(checks, driver, HTML, SCREENSHOTS)  # from file://, the network off
    full_screenshot(driver, SCREENSHOTS / "demo.png")
    return checks


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--demo-only", action="store_true", help="check the demo page only")
    parser.add_argument(
        "--readme-screenshot",
        action="store_true",
        help=f"save the demo's screenshot as {README_SCREENSHOT.relative_to(ROOT)}",
    )
    args = parser.parse_args(argv)
    if not (HTML / "index.html").is_file():
        print(f"check_rendered: {HTML / 'index.html'} is missing; run `bash docs/build.sh` first")
        return 1
    with tempfile.TemporaryDirectory(prefix="cvae_pyro_chromium_") as profile:
        with serve(HTML) as base, chromium(Path(profile)) as driver:
            checks = run_checks(driver, base, args.demo_only)
    for line in checks.failures:
        print(f"FAILED {line}")
    if args.readme_screenshot and not checks.failures:
        shutil.copyfile(SCREENSHOTS / "demo_widget.png", README_SCREENSHOT)
        print(f"check_rendered: saved {README_SCREENSHOT.relative_to(ROOT)}")
    print(f"check_rendered: screenshots in {SCREENSHOTS}")
    print(f"check_rendered: {checks.passed} passed, {len(checks.failures)} failed")
    return 1 if checks.failures else 0


if __name__ == "__main__":
    sys.exit(main())
