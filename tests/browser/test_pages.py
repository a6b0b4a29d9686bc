"""The built book as a reader sees it: every page of ``_toc.yml`` opened in headless chromium.

Run after the book build (``make book``), e.g. ``make test-browser`` or
``.venv/bin/python -m pytest -q tests/browser``. The unit-test step excludes this folder.

For every page listed in ``_toc.yml`` (the list is read from the toc, so new chapters are
covered without touching this file) the test serves ``_build/html`` over
``http://127.0.0.1:<free port>`` and checks in the browser that

* every ``<img>`` has loaded (``complete`` and ``naturalWidth > 0``), including the frame of
  every matplotlib ``to_jshtml()`` player (``div.animation``);
* every embedded widget view (``script[type="application/vnd.jupyter.widget-view+json"]``) has
  been rendered into widget DOM by the vendored embed manager, and every visible slider readout
  shows its value;
* every matplotlib player responds without a kernel: "Next frame" shows another frame image and
  moves its slider to 1, "Last frame" moves the slider to the end;
* every math element Sphinx emitted (``.math``) was typeset by MathJax into an
  ``mjx-container`` without ``mjx-merror``, and a page whose source contains math has typeset
  math at all;
* the console shows no SEVERE message (JavaScript errors, failed loads) except the ones listed
  in ``IGNORED_CONSOLE``, and the server answered no request with an error status;
* every same-site ``<a href>`` points to a file that exists in ``_build/html`` (and, when it
  has a ``#fragment``, to an element with that id);
* the page neither references (``<script src>``, ``<link href>``) nor requests (resource
  timing) anything from a host other than the local server.

A full-page screenshot of each page is saved to ``_build/screenshots/<page>.png``.

A missing ``_build/html`` or a missing chromium/chromedriver FAILS the test with a message;
it never skips. Override the binaries with CHROMIUM_BIN / CHROMEDRIVER_BIN, and the built book
with BOOK_HTML (default: _build/html; screenshots then go next to it).
"""
from __future__ import annotations

import base64
import functools
import http.server
import json
import os
import re
import shutil
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import pytest
import yaml

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
HTML = Path(os.environ.get("BOOK_HTML", ROOT / "_build" / "html")).resolve()  # override: another build
SCREENSHOTS = HTML.parent / "screenshots"
CHROMIUM = os.environ.get("CHROMIUM_BIN", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER_BIN", "/usr/bin/chromedriver")
INSTALL_HINT = ("install them with `apt-get update && apt-get install -y --no-install-recommends chromium "
                "chromium-driver` (Debian; see .ci/run)")

# SEVERE console messages that are not defects of the book, each with its reason. A message is
# ignored when the regex matches it (re.search). Keep this list short and justified.
IGNORED_CONSOLE: list[tuple[str, str]] = [
    # Browsers request /favicon.ico on their own; the book sets no favicon, so the server
    # answers 404. Nothing on the page refers to it.
    (r"/favicon\.ico - Failed to load resource", "browser's automatic favicon request; the book has no favicon"),
]
IGNORED_SERVER_PATHS = {"/favicon.ico"}  # same reason, as seen by the server

WIDGET_TIMEOUT_S = 30.0   # the embed manager renders after the page's load event
MATH_TIMEOUT_S = 30.0
PAGE_LOAD_TIMEOUT_S = 60.0
MAX_SCREENSHOT_HEIGHT = 40_000  # pixels; longer pages are cut (the checks still cover all of it)


# ----------------------------------------------------------------------------- page list
def toc_pages() -> list[str]:
    """Docnames (paths without extension, relative to the repo root) of every page in _toc.yml."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    pages: list[str] = [toc["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                pages.append(entry["file"])
            for key in ("parts", "chapters", "sections"):
                walk(entry.get(key))

    walk(toc.get("parts"))
    walk(toc.get("chapters"))
    walk(toc.get("sections"))
    return [re.sub(r"\.(md|ipynb|rst)$", "", p) for p in pages]


PAGES = toc_pages()


def source_of(docname: str) -> Path | None:
    for ext in (".md", ".ipynb", ".rst"):
        if (ROOT / (docname + ext)).exists():
            return ROOT / (docname + ext)
    return None


_FENCE = re.compile(r"^(```|~~~).*?^\1\s*$", re.M | re.S)
_INLINE_CODE = re.compile(r"`[^`\n]*`")
_MATH = re.compile(r"\$\$|\$[^$\s][^$\n]*?\$|\\\(|\\\[|\\begin\{|\{math\}")


def source_has_math(docname: str) -> bool:
    """True when the page's prose (markdown, not code) contains math markup."""
    src = source_of(docname)
    if src is None:
        return False
    if src.suffix == ".ipynb":
        nb = json.loads(src.read_text())
        text = "\n".join("".join(c["source"]) for c in nb.get("cells", []) if c.get("cell_type") == "markdown")
    else:
        text = src.read_text()
    if re.search(r"^(```|~~~|:::)\{math\}", text, re.M):  # a math block (stripped with the fences below)
        return True
    text = _INLINE_CODE.sub("", _FENCE.sub("", text))
    return bool(_MATH.search(text))


# ----------------------------------------------------------------------------- fixtures
class _Handler(http.server.SimpleHTTPRequestHandler):
    errors: list[tuple[str, int]] = []

    def log_request(self, code="-", size="-"):  # record failures instead of printing every request
        try:
            status = int(getattr(code, "value", code))
        except (TypeError, ValueError):
            return
        if status >= 400:
            type(self).errors.append((self.path, status))

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    if not (HTML / "index.html").exists():
        pytest.fail(f"{HTML} has no index.html: build the book first (`make book`, i.e. "
                    "`.venv/bin/jupyter-book build . --all -W -n --keep-going`), then run this test",
                    pytrace=False)
    handler = functools.partial(_Handler, directory=str(HTML))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture(scope="module")
def driver():
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not (Path(p).is_file() and os.access(p, os.X_OK))]
    if missing:
        pytest.fail(f"headless browser not found: {', '.join(missing)}; {INSTALL_HINT}", pytrace=False)
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.fail("selenium is not installed: `make venv` installs requirements.txt", pytrace=False)

    profile = tempfile.mkdtemp(prefix="rdqn-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--window-size=1280,1000",
                 "--hide-scrollbars"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    try:
        drv = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    except Exception as err:  # a broken install must fail loudly, not skip
        shutil.rmtree(profile, ignore_errors=True)
        pytest.fail(f"could not start {CHROMIUM} via {CHROMEDRIVER}: {err}; {INSTALL_HINT}", pytrace=False)
    drv.set_page_load_timeout(PAGE_LOAD_TIMEOUT_S)
    drv.set_script_timeout(MATH_TIMEOUT_S + 5)
    try:
        yield drv
    finally:
        drv.quit()
        shutil.rmtree(profile, ignore_errors=True)


# ----------------------------------------------------------------------------- helpers
def wait_for(predicate, timeout: float, interval: float = 0.1):
    """Poll ``predicate`` until it returns something other than None, or ``timeout`` passes.

    None means "not ready yet"; any other value, an empty list included, is the answer. (Treating
    an empty list as "not ready" made every page without widgets wait the whole timeout.)
    """
    end = time.monotonic() + timeout
    while True:
        value = predicate()
        if value is not None or time.monotonic() > end:
            return value
        time.sleep(interval)


WIDGET_STATUS_JS = """
const views = Array.from(document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]'));
return views.map((s, i) => {
  let modelId = null;
  try { modelId = JSON.parse(s.textContent).model_id; } catch (e) {}
  // the embed manager inserts <div class="widget-subarea"> before the view's <script>
  const area = s.previousElementSibling && s.previousElementSibling.classList.contains('widget-subarea')
      ? s.previousElementSibling : s.parentElement.querySelector('.widget-subarea');
  const rendered = !!area && area.querySelector('.jupyter-widgets, [class*="widget-"]') !== null;
  const readouts = area ? Array.from(area.querySelectorAll('.widget-slider .widget-readout, .widget-hslider .widget-readout, .widget-vslider .widget-readout'))
      .filter(r => r.offsetParent !== null)
      .map(r => (r.value !== undefined && r.tagName === 'INPUT' ? r.value : r.textContent).trim()) : [];
  return {index: i, model_id: modelId, rendered: rendered, readouts: readouts};
});
"""

IMAGES_JS = """
return Array.from(document.images).map(img => ({
  src: (img.currentSrc || img.src || '').slice(0, 120),
  complete: img.complete, width: img.naturalWidth,
  in_animation: !!img.closest('.animation'),
}));
"""

ANIMATIONS_JS = """
return Array.from(document.querySelectorAll('div.animation')).map(a => {
  const img = a.querySelector('img');
  return {has_img: !!img, complete: !!img && img.complete, width: img ? img.naturalWidth : 0};
});
"""

# Drive every matplotlib player the way a reader does, without any kernel: "Next frame" must show
# a different frame image and move the slider to 1; "Last frame" must move the slider to its max.
ANIMATION_CONTROLS_JS = """
return Array.from(document.querySelectorAll('div.animation')).map((a, k) => {
  const img = a.querySelector('img'), slider = a.querySelector('input[type="range"]');
  const next = a.querySelector('button[title="Next frame"]'), last = a.querySelector('button[title="Last frame"]');
  if (!img || !slider || !next || !last) return {index: k, error: 'player without image, slider or buttons'};
  const first = img.src;
  next.click();
  const afterNext = {src_changed: img.src !== first, slider: slider.value};
  last.click();
  return {index: k, error: null, frames: parseInt(slider.max) + 1, src_changed: afterNext.src_changed,
          slider_after_next: afterNext.slider, slider_after_last: slider.value, max: slider.max};
});
"""

MATH_JS = """
const done = arguments[arguments.length - 1];
const report = () => {
  const math = Array.from(document.querySelectorAll('.math'));
  done({
    math: math.length,
    untypeset: math.filter(m => !m.querySelector('mjx-container')).map(m => m.textContent.slice(0, 80)),
    containers: document.querySelectorAll('mjx-container').length,
    errors: Array.from(document.querySelectorAll('mjx-merror')).map(e => e.textContent.slice(0, 80)),
    mathjax: !!(window.MathJax && window.MathJax.startup),
  });
};
if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
  MathJax.startup.promise.then(report, report);
} else { report(); }
"""

LINKS_JS = """
return {
  anchors: Array.from(document.querySelectorAll('a[href]')).map(a => a.getAttribute('href')),
  scripts: Array.from(document.querySelectorAll('script[src]')).map(s => s.src),
  links: Array.from(document.querySelectorAll('link[href]')).map(l => [l.rel, l.href]),
  resources: performance.getEntriesByType('resource').map(r => r.name),
  ids: Array.from(document.querySelectorAll('[id]')).map(e => e.id)
     .concat(Array.from(document.querySelectorAll('a[name]')).map(e => e.getAttribute('name'))),
};
"""


@functools.lru_cache(maxsize=None)
def ids_in_file(path: Path) -> frozenset[str]:
    text = path.read_text(errors="replace")
    return frozenset(re.findall(r'\b(?:id|name)="([^"]+)"', text))


def local_file(url: str, base: str) -> Path:
    rel = unquote(urlsplit(url).path)
    target = HTML / rel.lstrip("/")
    if rel.endswith("/") or target.is_dir():
        target = target / "index.html"
    return target


def is_local(url: str, base: str) -> bool:
    scheme = urlsplit(url).scheme
    return scheme in ("data", "blob", "about") or url.startswith(base + "/") or url == base


def full_page_screenshot(drv, path: Path) -> None:
    metrics = drv.execute_cdp_cmd("Page.getLayoutMetrics", {})
    size = metrics.get("cssContentSize") or metrics["contentSize"]
    width = max(1280, int(size["width"]))
    height = min(int(size["height"]) + 1, MAX_SCREENSHOT_HEIGHT)
    shot = drv.execute_cdp_cmd("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True,
        "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1}})
    path.write_bytes(base64.b64decode(shot["data"]))


# Paragraphs (outside code) that hold a markdown table's delimiter row, "|---|" or, after the typographer, "|—|":
# myst-nb renders display(Markdown(...)) with nb_render_markdown_format; the default, commonmark, has no tables.
TABLE_AS_TEXT_JS = r"""
return Array.from(document.querySelectorAll('p'))
  .filter(p => !p.closest('pre, code, .highlight'))
  .map(p => p.textContent)
  .filter(t => /\|\s*(?:-{3,}|\u2014|\u2013)[-\u2014\u2013:\s]*\|/.test(t));
"""


# ----------------------------------------------------------------------------- the test
def test_toc_lists_pages():
    assert len(PAGES) >= 2 and len(set(PAGES)) == len(PAGES), PAGES
    missing = [p for p in PAGES if source_of(p) is None]
    assert not missing, f"_toc.yml lists pages without a source file: {missing}"


def test_errata_has_math_source():
    # guards the math check itself: errata is known to contain equations
    assert "book/errata" in PAGES and source_has_math("book/errata")


@pytest.mark.parametrize("docname", PAGES)
def test_page_renders(docname, server, driver):
    page_file = HTML / (docname + ".html")
    assert page_file.exists(), f"{docname} is in _toc.yml but {page_file} was not built"
    url = f"{server}/{docname}.html"
    problems: list[str] = []
    driver.get_log("browser")  # drop messages left over from the previous page
    _Handler.errors.clear()

    driver.get(url)
    wait_for(lambda: True if driver.execute_script("return document.readyState") == "complete" else None,
             PAGE_LOAD_TIMEOUT_S)

    # --- widgets: every embedded view rendered (the embed manager works after 'load')
    widgets = wait_for(lambda: (lambda w: w if all(v["rendered"] for v in w) else None)(
        driver.execute_script(WIDGET_STATUS_JS)), WIDGET_TIMEOUT_S)
    widgets = widgets or driver.execute_script(WIDGET_STATUS_JS)
    for v in widgets:
        if not v["rendered"]:
            problems.append(f"widget view #{v['index']} (model {v['model_id']}) did not render")
        for r in v["readouts"]:
            if not r:
                problems.append(f"widget view #{v['index']}: a slider shows no value")

    # a chapter whose live widgets need a kernel also offers a control that works without one
    if re.match(r"book/\d\d_", docname) and widgets and not driver.execute_script(ANIMATIONS_JS):
        problems.append("the page has ipywidgets (static in the HTML book) but no kernel-free player")

    # --- math: every .math element typeset by MathJax
    math = driver.execute_async_script(MATH_JS)
    if math["untypeset"]:
        problems.append(f"{len(math['untypeset'])} of {math['math']} math elements not typeset by MathJax, "
                        f"e.g. {math['untypeset'][:3]} (MathJax loaded: {math['mathjax']})")
    if math["errors"]:
        problems.append(f"MathJax errors: {math['errors'][:5]}")
    if source_has_math(docname) and math["containers"] == 0:
        problems.append("the source has math but the page shows no typeset math (no mjx-container)")

    # --- images, including matplotlib jshtml players' frames (set by their script)
    def images_ready():
        imgs = driver.execute_script(IMAGES_JS)
        return imgs if all(i["complete"] and i["width"] > 0 for i in imgs) else None
    images = wait_for(images_ready, 10.0) or driver.execute_script(IMAGES_JS)
    for img in images:
        if not (img["complete"] and img["width"] > 0):
            problems.append(f"image not loaded: {img['src']!r}")
    for k, anim in enumerate(driver.execute_script(ANIMATIONS_JS)):
        if not (anim["has_img"] and anim["complete"] and anim["width"] > 0):
            problems.append(f"animation player #{k} shows no frame image")
    for player in driver.execute_script(ANIMATION_CONTROLS_JS):  # after the image checks: this moves the frames
        if player["error"]:
            problems.append(f"animation player #{player['index']}: {player['error']}")
        elif player["frames"] < 2:
            problems.append(f"animation player #{player['index']} has a single frame: nothing to scrub")
        elif not (player["src_changed"] and player["slider_after_next"] == "1"
                  and player["slider_after_last"] == player["max"]):
            problems.append(f"animation player #{player['index']} does not respond to its buttons: {player}")

    # --- tables: a markdown table an output printed must be a table, not a paragraph of pipes
    for text in driver.execute_script(TABLE_AS_TEXT_JS):
        problems.append(f"a markdown table shown as text (its delimiter row in a paragraph): {text[:120]!r}")

    # --- links and requests
    info = driver.execute_script(LINKS_JS)
    ids = set(info["ids"])
    for href in info["anchors"]:
        if not href or href.startswith(("mailto:", "javascript:", "tel:")):
            continue
        absolute = urljoin(url, href)
        parts = urlsplit(absolute)
        if parts.scheme not in ("http", "https", "file") or not is_local(absolute, server):
            continue  # a link to another site: the reader follows it, the page does not load it
        target = local_file(absolute, server)
        if not target.exists():
            problems.append(f"broken link {href!r}: {target.relative_to(HTML)} does not exist")
            continue
        frag = unquote(parts.fragment)
        if frag and target.suffix == ".html":
            known = ids if target == page_file else ids_in_file(target)
            if frag not in known:
                problems.append(f"link {href!r}: no element with id {frag!r} in {target.relative_to(HTML)}")
    for src in info["scripts"]:
        if not is_local(src, server):
            problems.append(f"script from another host: {src}")
    for rel, href in info["links"]:
        if rel in ("canonical", "alternate"):
            continue  # metadata, never fetched
        if not is_local(href, server):
            problems.append(f"<link rel={rel!r}> to another host: {href}")
    for res in info["resources"]:
        if not is_local(res, server):
            problems.append(f"request to another host: {res}")

    # --- console and server
    for entry in driver.get_log("browser"):
        if entry.get("level") != "SEVERE":
            continue
        message = entry.get("message", "")
        if any(re.search(pattern, message) for pattern, _ in IGNORED_CONSOLE):
            continue
        problems.append(f"console {entry['level']}: {message[:300]}")
    for path, status in list(_Handler.errors):
        if path.split("?")[0] not in IGNORED_SERVER_PATHS:
            problems.append(f"server answered {status} for {path}")

    # --- screenshot (CI artifact), taken even when a check failed
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shot_name = re.sub(r"^book/", "", docname).replace("/", "__") + ".png"
    full_page_screenshot(driver, SCREENSHOTS / shot_name)

    assert not problems, f"{docname}.html ({len(problems)} problems):\n  " + "\n  ".join(problems[:40])
