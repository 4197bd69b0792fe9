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
    study = write_study(root, images, methods=("gradcam", "lime"))
    study.write_text(study.read_text().replace("num_samples = 60", "num_samples = 10").replace("batch_size = 30", "batch_size = 10"))
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
