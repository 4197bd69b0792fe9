"""The built site in a real browser: Debian's chromium, driven by selenium through chromium-driver.

A small offline study (the packaged EfficientNet-Lite0, three study images, one of them under a hostile file
name, Grad-CAM + LIME with few samples) is built, turned into HTML by ``mkdocs build`` and served on
localhost by ``python -m http.server``. On the home page, an image page and the gallery: every image loads,
the console has no errors, every internal link (and its #fragment) resolves, a nav tab navigates, and
Material's search finds an image. Screenshots go to ``$XAI_REPORT_SCREENSHOTS`` (default: the test's tmp
folder); the path is printed.

Needs ``apt-get install chromium chromium-driver`` and ``pip install selenium``; skips without them, except
in CI (``CI`` set), where their absence fails the test.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urldefrag, urlparse

import pytest
from click.testing import CliRunner

from xai_report.cli import main

from conftest import STUDY_IMAGES, write_study

CHROMIUM = os.environ.get("XAI_REPORT_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("XAI_REPORT_CHROMEDRIVER", "/usr/bin/chromedriver")
XSS_NAME = "<img src=x onerror=alert(1)>.jpg"

pytestmark = pytest.mark.real_model


def _missing() -> str | None:
    if not Path(CHROMIUM).is_file():
        return f"{CHROMIUM} not found (apt-get install chromium chromium-driver)"
    if not Path(CHROMEDRIVER).is_file():
        return f"{CHROMEDRIVER} not found (apt-get install chromium-driver)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "the selenium package is not installed (pip install selenium)"
    return None


@pytest.fixture(scope="module")
def webdriver_ready():
    missing = _missing()
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"the browser test must run in CI: {missing}")
        pytest.skip(missing)


@pytest.fixture(scope="module")
def served_site(webdriver_ready, tmp_path_factory):
    """Build the study, mkdocs-build it, serve it; yields (base URL, results)."""
    import json

    root = tmp_path_factory.mktemp("browser")
    images = root / "images"
    images.mkdir()
    shutil.copy(STUDY_IMAGES / "n01443537_goldfish.JPEG", images)
    shutil.copy(STUDY_IMAGES / "n07747607_orange.JPEG", images)
    shutil.copy(STUDY_IMAGES / "n02007558_flamingo.JPEG", images / XSS_NAME)
    study = write_study(root, images, methods=("gradcam", "lime"), metrics=True, extra="deletion_steps = 5")
    study.write_text(study.read_text().replace("num_samples = 60", "num_samples = 10").replace("batch_size = 30", "batch_size = 10")
                     .replace("offline = true", "offline = true\npublish_raw = true"))
    result = CliRunner().invoke(main, ["build", "--study", str(study)])
    assert result.exit_code == 0, (result.output, result.exception)
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(root / "mkdocs.yml")],
                          capture_output=True, text=True, cwd=root, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    server = subprocess.Popen([sys.executable, "-u", "-m", "http.server", "0", "--bind", "127.0.0.1",
                               "--directory", str(root / "site")],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = server.stdout.readline()  # "Serving HTTP on 127.0.0.1 port 40123 (http://127.0.0.1:40123/) ..."
        match = re.search(r"port (\d+)", line)
        assert match, f"http.server did not start: {line!r}"
        base = f"http://127.0.0.1:{match.group(1)}/"
        deadline = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(base, timeout=2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield base, json.loads((root / "out" / "results.json").read_text())
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory) -> Path:
    folder = Path(os.environ.get("XAI_REPORT_SCREENSHOTS") or tmp_path_factory.mktemp("screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def browser(webdriver_ready, tmp_path_factory):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    profile = tmp_path_factory.mktemp("chromium-profile")
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--window-size=1400,1000"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def wait_for(condition, timeout: float = 20.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def open_page(driver, url: str) -> None:
    driver.get(url)
    wait_for(lambda: driver.execute_script("return document.readyState") == "complete", what=f"{url} to load")
    # lazy images below the window load only when scrolled to: load them now, so that every image is checked
    driver.execute_script("document.querySelectorAll('img[loading=lazy]').forEach(i => { i.loading = 'eager'; })")
    wait_for(lambda: driver.execute_script("return [...document.images].every(i => i.complete)"),
             what=f"the images of {url}")


def broken_images(driver) -> list[str]:
    return driver.execute_script(
        "return [...document.images].filter(i => !(i.naturalWidth > 0)).map(i => i.currentSrc || i.src)")


def console_errors(driver) -> list[str]:
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def save_screenshot(driver, folder: Path, name: str) -> Path:
    """A full-page PNG (beyond the window) through the DevTools protocol."""
    import base64

    metrics = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})
    size = metrics.get("cssContentSize") or metrics["contentSize"]
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True,
        "clip": {"x": 0, "y": 0, "width": size["width"], "height": min(size["height"], 8000), "scale": 1},
    })
    path = folder / f"{name}.png"
    path.write_bytes(base64.b64decode(shot["data"]))
    return path


def internal_links(driver, base: str) -> set[str]:
    hrefs = driver.execute_script("return [...document.querySelectorAll('a[href]')].map(a => a.href)")
    return {h for h in hrefs if h.startswith(base)}


def check_links(links: set[str], cache: dict[str, str]) -> list[str]:
    """Fetch every internal link once; a #fragment must name an id on the target page."""
    broken = []
    for link in sorted(links):
        url, fragment = urldefrag(link)
        if url not in cache:
            try:
                with urllib.request.urlopen(url, timeout=10) as response:
                    cache[url] = response.read().decode("utf-8", "replace")
            except (urllib.error.URLError, OSError) as exc:
                cache[url] = ""
                broken.append(f"{link}: {exc}")
                continue
        if fragment and cache[url] and not re.search(rf'id="{re.escape(fragment)}"', cache[url]):
            broken.append(f"{link}: no element with id {fragment!r}")
    return broken


def test_pages_images_links_console(served_site, browser, screenshots, capsys):
    base, results = served_site
    images = results["attribution"]["images"]
    assert len(images) == 3
    xss = next(r for r in images if r["file"] == XSS_NAME)
    pages = {
        "home": base,
        "image": f"{base}attribution/images/{xss['id']}/",
        "gallery": f"{base}attribution/gallery/",
    }
    fetched: dict[str, str] = {}
    shots = []
    for name, url in pages.items():
        open_page(browser, url)
        assert browser.current_url == url
        assert broken_images(browser) == [], f"{name}: images that did not load"
        errors = console_errors(browser)
        assert errors == [], f"{name}: console errors {errors}"
        links = internal_links(browser, base)
        assert links, f"{name}: no internal links"
        assert check_links(links, fetched) == [], f"{name}: broken links"
        shots.append(save_screenshot(browser, screenshots, name))
        counts = browser.execute_script("return [document.images.length, document.querySelectorAll('img[src=\"x\"]').length]")
        if name in ("image", "gallery"):
            assert counts[0] >= 3 and counts[1] == 0  # the photo and the maps load; the file name is no <img>
    # the hostile file name is shown as text on its page
    open_page(browser, pages["image"])
    assert XSS_NAME in browser.find_element("css selector", "article").text
    for path in shots:
        assert path.stat().st_size > 10_000
    with capsys.disabled():  # shown even when pytest captures output
        print(f"\nscreenshots: {screenshots}")


def test_navigation_and_search(served_site, browser, screenshots, capsys):
    from selenium.webdriver.common.by import By

    base, results = served_site
    open_page(browser, base)
    tab = next(a for a in browser.find_elements(By.CSS_SELECTOR, "a.md-tabs__link") if a.text.strip() == "Attribution")
    tab.click()
    wait_for(lambda: browser.current_url.startswith(f"{base}attribution/"), what="the Attribution tab to navigate")
    wait_for(lambda: browser.execute_script("return document.readyState") == "complete", what="the page to load")
    assert browser.find_element(By.CSS_SELECTOR, "article h1").text.strip() == "Attribution"

    query = browser.find_element(By.CSS_SELECTOR, "input.md-search__input")
    query.click()
    query.send_keys("goldfish")
    items = wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, ".md-search-result__item"), what="search results")
    texts = " ".join(item.text.lower() for item in items)
    assert "goldfish" in texts
    save_screenshot(browser, screenshots, "search")
    # searching the hostile name lists it as text and runs nothing
    query.clear()
    query.send_keys("onerror")
    wait_for(lambda: "onerror" in " ".join(i.text for i in browser.find_elements(By.CSS_SELECTOR, ".md-search-result__item")),
             what="the hostile name in the search results")
    assert browser.execute_script("return document.querySelectorAll('img[src=\"x\"]').length") == 0
    assert console_errors(browser) == []
    with capsys.disabled():  # shown even when pytest captures output
        print(f"\nscreenshots: {screenshots}")


# -- the reviewer's site (issue 14): wide pages, lightbox, sorting, raw results, no outside request, dark mode --

def outside_requests(driver, base: str) -> list[str]:
    """Every resource the page fetched (scripts, styles, fonts, images, XHR) that is not on the local server."""
    names = driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    return [n for n in names if not n.startswith(base) and not n.startswith("data:")]


def image_page(base: str, results: dict, file: str = "n01443537_goldfish.JPEG") -> str:
    record = next(r for r in results["attribution"]["images"] if r["file"] == file)
    return f"{base}attribution/images/{record['id']}/"


def test_gallery_row_fits_a_1400_px_window_and_a_phone_page_does_not_scroll(served_site, browser, screenshots):
    base, results = served_site
    browser.set_window_size(1400, 1000)
    open_page(browser, f"{base}attribution/gallery/")
    width = browser.execute_script("return document.documentElement.clientWidth")
    rows = browser.execute_script("""
        const table = document.querySelector('article table');
        return [...table.rows].map(r => r.cells[r.cells.length - 1].getBoundingClientRect().right);""")
    assert len(rows) == 1 + len(results["attribution"]["images"])
    assert max(rows) <= width, f"the explained-class column ends at {max(rows)} px, the window is {width} px wide"
    scroll = browser.execute_script("""
        const t = document.querySelector('article table');
        return [t.scrollWidth - t.clientWidth, t.parentElement.scrollWidth - t.parentElement.clientWidth];""")
    assert max(scroll) <= 0, "the gallery table scrolls sideways at 1400 px"
    sizes = browser.execute_script("return [...document.querySelectorAll('article table img')].map(i => i.clientWidth)")
    assert min(sizes) >= 96, sizes
    save_screenshot(browser, screenshots, "gallery-1400")
    try:
        browser.set_window_size(400, 900)
        for name, url in (("gallery", f"{base}attribution/gallery/"), ("image", image_page(base, results))):
            open_page(browser, url)
            overflow = browser.execute_script(
                "return document.documentElement.scrollWidth - document.documentElement.clientWidth")
            assert overflow <= 0, f"{name} page scrolls sideways at 400 px by {overflow} px"
            save_screenshot(browser, screenshots, f"{name}-400")
    finally:
        browser.set_window_size(1400, 1000)


def test_a_map_opens_in_the_lightbox_and_the_arrow_key_flips_to_the_next_method(served_site, browser, screenshots):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    base, results = served_site
    open_page(browser, image_page(base, results))
    links = browser.find_elements(By.CSS_SELECTOR, ".xai-maps a.glightbox")
    methods = [m["name"] for m in results["attribution"]["methods"]]
    assert len(links) == 1 + len(methods)  # the photo, then one map per method, in one gallery
    assert {a.get_attribute("data-gallery") for a in links} == {"maps"}

    def shown() -> str:
        return browser.execute_script(
            "const i = document.querySelector('.glightbox-container .gslide.current img'); return i ? i.currentSrc : ''")

    links[1].click()
    wait_for(lambda: shown().endswith(f"_{methods[0]}.jpg"), what="the lightbox to show the first method's map")
    size = browser.execute_script(
        "const i = document.querySelector('.glightbox-container .gslide.current img'); return [i.clientWidth, i.naturalWidth]")
    assert size[0] > size[1], f"the lightbox shows the map no larger than its {size[1]} px file"
    time.sleep(1)  # let the fade-in finish before the picture is taken (the checks above do not wait on it)
    browser.save_screenshot(str(screenshots / "lightbox-1400.png"))  # the window: the lightbox covers it
    browser.find_element(By.TAG_NAME, "body").send_keys(Keys.ARROW_RIGHT)
    wait_for(lambda: shown().endswith(f"_{methods[1]}.jpg"), what="the right arrow to show the next method's map")
    browser.set_window_size(400, 900)
    time.sleep(1)
    browser.save_screenshot(str(screenshots / "lightbox-400.png"))
    browser.set_window_size(1400, 1000)
    browser.find_element(By.TAG_NAME, "body").send_keys(Keys.ESCAPE)
    wait_for(lambda: not browser.find_elements(By.CSS_SELECTOR, ".glightbox-container"), what="the lightbox to close")
    assert console_errors(browser) == []


def test_sorting_a_faithfulness_table_reorders_its_rows(served_site, browser):
    from selenium.webdriver.common.by import By

    base, results = served_site
    open_page(browser, image_page(base, results))
    table = browser.find_element(By.XPATH, "//h2[@id='faithfulness']/following::table[1]")
    header = table.find_element(By.XPATH, ".//th[contains(., 'Deletion AUC')]")

    def column() -> list[tuple[str, float]]:
        cells = [row.find_elements(By.TAG_NAME, "td") for row in table.find_elements(By.CSS_SELECTOR, "tbody tr")]
        return [(c[0].text, float(re.match(r"[\d.]+", c[1].text).group())) for c in cells]

    before = column()
    header.click()
    ascending = column()
    assert [v for _, v in ascending] == sorted(v for _, v in before)
    assert header.get_attribute("aria-sort") == "ascending"
    header.click()
    descending = column()
    assert [v for _, v in descending] == sorted((v for _, v in before), reverse=True)
    assert [n for n, _ in descending] != [n for n, _ in ascending]  # the rows moved, names with their numbers
    assert sorted(before) == sorted(descending)


def test_raw_results_are_published_and_linked(served_site, browser):
    import io

    import numpy as np
    from selenium.webdriver.common.by import By

    base, results = served_site
    open_page(browser, image_page(base, results))
    links = [a.get_attribute("href") for a in browser.find_elements(By.CSS_SELECTOR, "article a[href$='.npy']")]
    methods = results["attribution"]["methods"]
    assert len(links) >= len(methods) + 1  # every map, and LIME's superpixels
    with urllib.request.urlopen(links[0], timeout=10) as response:
        assert response.status == 200
        array = np.load(io.BytesIO(response.read()))
    side = results["attribution"]["model"]["preprocess"]["crop"]
    assert array.dtype == np.float32 and array.shape == (side, side)
    raw = next(a.get_attribute("href") for a in browser.find_elements(By.CSS_SELECTOR, "article a[href$='results.json']"))
    with urllib.request.urlopen(raw, timeout=10) as response:
        assert response.status == 200 and json.loads(response.read()) == results


def test_no_request_leaves_the_local_server(served_site, browser):
    base, results = served_site
    for url in (base, f"{base}attribution/gallery/", image_page(base, results), f"{base}attribution/comparison/",
                f"{base}print_page/"):
        open_page(browser, url)
        assert outside_requests(browser, base) == [], url


def test_dark_mode_and_the_single_file_report(served_site, browser, screenshots, capsys):
    from selenium.webdriver.common.by import By

    base, results = served_site
    open_page(browser, image_page(base, results))
    browser.find_element(By.CSS_SELECTOR, "label.md-header__button[for='__palette_1']").click()
    wait_for(lambda: browser.execute_script("return document.body.getAttribute('data-md-color-scheme')") == "slate",
             what="dark mode")
    try:
        for name, url in (("image-dark", image_page(base, results)), ("gallery-dark", f"{base}attribution/gallery/")):
            open_page(browser, url)
            assert browser.execute_script("return document.body.getAttribute('data-md-color-scheme')") == "slate"
            assert broken_images(browser) == []
            # captions and table text stay readable: light text on the dark page
            text, page = browser.execute_script("""
                const lum = c => { const [r, g, b] = c.match(/\\d+/g).map(Number); return (r + g + b) / 3; };
                const el = document.querySelector('article td, article figcaption');
                return [lum(getComputedStyle(el).color), lum(getComputedStyle(document.body).backgroundColor)];""")
            assert text - page > 100, (name, text, page)
            save_screenshot(browser, screenshots, name)
    finally:
        browser.find_element(By.CSS_SELECTOR, "label.md-header__button[for='__palette_0']").click()
    open_page(browser, f"{base}print_page/")
    article = browser.find_element(By.CSS_SELECTOR, "article").text
    for record in results["attribution"]["images"]:
        assert record["title"] in article
    overlays = browser.execute_script("return [...document.images].filter(i => i.src.includes('/overlays/')).length")
    assert overlays >= len(results["attribution"]["images"]) * (1 + len(results["attribution"]["methods"]))
    save_screenshot(browser, screenshots, "single-file-report-1400")
    browser.set_window_size(400, 900)
    try:
        open_page(browser, f"{base}print_page/")
        save_screenshot(browser, screenshots, "single-file-report-400")
    finally:
        browser.set_window_size(1400, 1000)
    with capsys.disabled():
        print(f"\nscreenshots: {screenshots}")


# -- the method picker (issue 24): a method's pictures hide and come back, the choice is remembered -----------------

def test_the_method_picker_hides_a_method_everywhere_and_the_lightbox_skips_it(served_site, browser, screenshots):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    base, results = served_site
    first, second = [m["name"] for m in results["attribution"]["methods"]]  # gradcam (CAM), lime (perturbation)
    page = image_page(base, results)
    open_page(browser, page)
    try:
        box = browser.find_element(By.CSS_SELECTOR, ".xai-picker")
        assert box.is_displayed()
        browser.find_element(By.CSS_SELECTOR, f".xai-picker input[data-method='{first}']").click()
        assert not browser.find_element(By.ID, f"map-{first}").is_displayed()
        assert not browser.find_element(By.ID, "family-cam").is_displayed()  # its family had no other method
        assert browser.find_element(By.ID, f"map-{second}").is_displayed()
        # the lightbox flips from the photo straight to the method still shown
        browser.find_element(By.CSS_SELECTOR, ".xai-maps a.glightbox").click()
        browser.find_element(By.TAG_NAME, "body").send_keys(Keys.ARROW_RIGHT)
        wait_for(lambda: browser.execute_script(
            "const i = document.querySelector('.glightbox-container .gslide.current img'); return i && i.currentSrc"
        ).endswith(f"_{second}.jpg"), what="the arrow to skip the hidden method")
        browser.find_element(By.TAG_NAME, "body").send_keys(Keys.ESCAPE)
        wait_for(lambda: not browser.find_elements(By.CSS_SELECTOR, ".glightbox-container"), what="the lightbox to close")
        # remembered on the gallery: the method's column and its family's table are gone
        open_page(browser, f"{base}attribution/gallery/")
        assert not browser.find_element(By.CSS_SELECTOR, f".xai-picker input[data-method='{first}']").is_selected()
        shown = browser.execute_script(
            "return [...document.querySelectorAll('article img[data-method]')].filter(i => i.offsetParent).map(i => i.dataset.method)")
        assert first not in shown and second in shown
        save_screenshot(browser, screenshots, "gallery-picked")
        browser.find_element(By.CSS_SELECTOR, ".xai-picker [data-xai-all]").click()
        assert browser.find_element(By.ID, "family-cam").is_displayed()
        open_page(browser, page)
        assert browser.find_element(By.ID, f"map-{first}").is_displayed()
        assert len(browser.find_elements(By.CSS_SELECTOR, ".xai-maps a.glightbox")) == 3
        assert console_errors(browser) == []
    finally:
        browser.execute_script("window.localStorage.clear()")
