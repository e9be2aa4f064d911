"""The course site in a real headless browser: every page loads without errors, offline, and every figure draws.

Needs Chromium and its driver (Debian: `apt-get install chromium chromium-driver`; CI installs
them); without them the test skips and says so.
"""

from __future__ import annotations

import functools
import http.server
import threading
from pathlib import Path

import nbformat
import pytest
from _tools import load_tool

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
PLOTLY = "application/vnd.plotly.v1+json"
# Installed before any page script runs: records script errors, failed loads and rejected promises.
ERROR_TRAP = """
window.__pageErrors = [];
window.addEventListener('error', event => {
  const target = event.target;
  const what = target && target !== window ? `failed to load ${target.src || target.href}` : `${event.message}`;
  window.__pageErrors.push(what);
}, true);
window.addEventListener('unhandledrejection', event => window.__pageErrors.push(`rejected: ${event.reason}`));
"""
FIGURES_DRAWN = """
return Array.from(document.querySelectorAll('.js-plotly-plot')).map(plot => {
  const box = plot.querySelector('.main-svg').getBoundingClientRect();
  return {width: box.width, height: box.height, traces: plot.querySelectorAll('.trace').length};
});
"""

pytestmark = [
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"no {CHROMIUM}: apt-get install chromium chromium-driver"),
    pytest.mark.skipif(not CHROMEDRIVER.exists(), reason=f"no {CHROMEDRIVER}: apt-get install chromium-driver"),
]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    pytest.importorskip("sphinx", reason="the site is built with Sphinx (pip install -e '.[docs]')")
    tool = load_tool("site")
    out = tmp_path_factory.mktemp("site")
    tool.build(out, tmp_path_factory.mktemp("site-work"), tool.lessons())
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(out))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="module")
def browser():
    webdriver = pytest.importorskip("selenium.webdriver", reason="the browser test drives Chromium with selenium")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1280,900",
                 # every host but this machine is unreachable, so a page that needs the network fails here
                 "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=str(CHROMEDRIVER)))
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": ERROR_TRAP})
    yield driver
    driver.quit()


def visit(browser, url: str) -> list[str]:
    """Open a page; the errors it raised (script errors, failed loads, console errors)."""
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(url)
    WebDriverWait(browser, 30).until(lambda driver: driver.execute_script("return document.readyState") == "complete")
    errors = list(browser.execute_script("return window.__pageErrors"))
    errors += [entry["message"] for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    return errors


def stored_figures(path: Path) -> int:
    notebook = nbformat.read(path, as_version=4)
    return sum(PLOTLY in output.get("data", {}) for cell in notebook.cells if cell.cell_type == "code"
               for output in cell.outputs)


def lesson_paths() -> list[Path]:
    return sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def test_landing_page_lists_every_lesson_with_colab_and_nbviewer(site, browser):
    from selenium.webdriver.common.by import By

    assert visit(browser, f"{site}/index.html") == []
    links = [link.get_attribute("href") for link in browser.find_elements(By.CSS_SELECTOR, "article a")]
    for path in lesson_paths():
        assert f"{site}/{path.stem}.html" in links
        assert any(link.startswith("https://colab.research.google.com/github/") and link.endswith(path.name) for link in links)
        assert any(link.startswith("https://nbviewer.org/github/") and link.endswith(path.name) for link in links)
    badges = browser.find_elements(By.CSS_SELECTOR, "article img[alt='Open in Colab']")
    assert len(badges) == len(lesson_paths()) and all(badge.get_property("naturalWidth") > 0 for badge in badges)


@pytest.mark.parametrize("path", lesson_paths(), ids=lambda path: path.stem)
def test_lesson_page_loads_cleanly_and_draws_every_figure(site, browser, path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    assert visit(browser, f"{site}/{path.stem}.html") == []
    expected = stored_figures(path)
    WebDriverWait(browser, 30).until(lambda driver: len(driver.execute_script(FIGURES_DRAWN)) == expected)
    figures = browser.execute_script(FIGURES_DRAWN)
    assert all(figure["width"] > 100 and figure["height"] > 100 and figure["traces"] > 0 for figure in figures), figures
    colab = [link.get_attribute("href") for link in browser.find_elements(By.CSS_SELECTOR, "a[href^='https://colab.research.google.com/github/']")]
    assert colab and all(link.endswith(f"/notebooks/{path.name}") for link in colab)
    neighbours = [link.get_attribute("href") for link in browser.find_elements(By.CSS_SELECTOR, "a.left-prev, a.right-next")]
    position = lesson_paths().index(path)
    if position + 1 < len(lesson_paths()):
        assert f"{site}/{lesson_paths()[position + 1].stem}.html" in neighbours
    assert f"{site}/{lesson_paths()[position - 1].stem}.html" in neighbours if position else f"{site}/index.html" in neighbours
