"""The browser pages in a real headless Chromium (Debian's chromium + chromium-driver, driven by
Selenium) with every host but 127.0.0.1 unreachable: GraphiQL runs a query and shows its answer,
the explorer goes query -> facet -> product -> intentions on the demo graph's bundled knowledge.

Screenshots of each step are saved under the folder this module prints (pytest's tmp dir, or
$COSMO_TEST_ARTIFACTS when set).
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import neo4j
import pytest
import uvicorn
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from cosmo_kg.api.app import create_app
from cosmo_kg.api.index import TextEmbedder
from cosmo_kg.api.services import ServeSettings
from cosmo_kg.demo import EXAMPLE_PRODUCT as DEMO_PRODUCT
from tests.api.conftest import load_demo_sample
from tests.conftest import free_port

pytestmark = pytest.mark.neo4j

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


@pytest.fixture(scope="module")
def fixture_graph(session_driver: neo4j.Driver, tmp_path_factory: pytest.TempPathFactory) -> neo4j.Driver:
    load_demo_sample(session_driver, tmp_path_factory.mktemp("rejects"))
    return session_driver


@pytest.fixture(scope="module")
def base_url(settings: ServeSettings, built_index: Path, embedder: TextEmbedder) -> Iterator[str]:
    """The API served by uvicorn on a free loopback port."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings, embedder=embedder), host="127.0.0.1", port=port, log_level="warning"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the API did not start"
        time.sleep(0.1)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(15)


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = Path(os.environ.get("COSMO_TEST_ARTIFACTS") or tmp_path_factory.mktemp("screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    print(f"\nbrowser screenshots: {folder}")
    return folder


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    if not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)):
        pytest.fail("chromium and chromium-driver are not installed (scripts/system_deps.sh installs them)")
    offline = pytest.MonkeyPatch()
    offline.setenv("SE_OFFLINE", "true")  # Selenium Manager must never download a driver
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1280,900",
        "--no-first-run",
        "--disable-extensions",
        "--disable-background-networking",
        "--disable-component-update",
        # Every host but the test server is unreachable: the pages must need no network.
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        "--proxy-server=http://127.0.0.1:9",
        "--proxy-bypass-list=127.0.0.1",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()
    offline.undo()


def wait(browser: WebDriver, seconds: float = 30) -> WebDriverWait:
    return WebDriverWait(browser, seconds)


def assert_only_local_resources(browser: WebDriver, base_url: str) -> None:
    loaded = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert loaded and all(url.startswith(base_url) for url in loaded), loaded


def test_graphiql_runs_an_example_query_offline(browser: WebDriver, base_url: str, artifacts: Path) -> None:
    browser.get(f"{base_url}/graphql")
    run = wait(browser, 60).until(ec.element_to_be_clickable((By.CSS_SELECTOR, ".graphiql-execute-button")))
    editor = browser.find_element(By.CSS_SELECTOR, ".graphiql-query-editor").text
    assert f'product(id: "{DEMO_PRODUCT}")' in editor
    tabs = browser.find_elements(By.CSS_SELECTOR, ".graphiql-tab")
    assert len(tabs) == 4
    run.click()
    response = wait(browser).until(
        lambda b: (
            b.find_element(By.CSS_SELECTOR, ".graphiql-response").text
            if "Belkin" in b.find_element(By.CSS_SELECTOR, ".graphiql-response").text
            else False
        )
    )
    assert '"intentions"' in response and '"relation"' in response
    browser.save_screenshot(str(artifacts / "graphiql.png"))
    assert_only_local_resources(browser, base_url)


def test_explorer_query_facet_product_intentions(browser: WebDriver, base_url: str, artifacts: Path) -> None:
    browser.set_window_size(1280, 900)
    browser.get(f"{base_url}/explore")
    box = wait(browser).until(ec.element_to_be_clickable((By.ID, "query-input")))
    box.send_keys("usb extension cable", Keys.ENTER)
    facets = wait(browser).until(lambda b: b.find_elements(By.CSS_SELECTOR, "#navigation button.facet"))
    assert "q=usb+extension+cable" in browser.current_url
    browser.save_screenshot(str(artifacts / "explore-1-facets.png"))

    facets[-1].send_keys(Keys.ENTER)  # keyboard use: a facet is a real button
    wait(browser).until(
        lambda b: (
            [
                f.get_attribute("aria-pressed")
                for f in b.find_elements(By.CSS_SELECTOR, "#navigation button.facet")
            ][-1:]
            == ["true"]
        )
    )
    products = wait(browser).until(lambda b: b.find_elements(By.CSS_SELECTOR, "#facet-products a"))
    assert f"facet={len(facets) - 1}" in browser.current_url
    browser.save_screenshot(str(artifacts / "explore-2-facet-products.png"))

    title = products[0].text
    products[0].click()
    wait(browser).until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, "#product h2"), title))
    meters = browser.find_elements(By.CSS_SELECTOR, "#product .intention [role=meter]")
    assert meters and all(0 <= float(m.get_attribute("aria-valuenow")) <= 1 for m in meters)
    assert browser.find_elements(By.CSS_SELECTOR, "#product h3")
    browser.save_screenshot(str(artifacts / "explore-3-product.png"))

    browser.back()  # history works: back to the facet
    wait(browser).until(lambda b: b.find_elements(By.CSS_SELECTOR, "#facet-products a"))
    assert_only_local_resources(browser, base_url)


def test_explorer_deep_links_and_a_phone_screen(browser: WebDriver, base_url: str, artifacts: Path) -> None:
    browser.set_window_size(390, 844)
    browser.get(f"{base_url}/explore?product={DEMO_PRODUCT}")
    wait(browser).until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, "#product h2"), "Belkin"))
    assert browser.find_elements(By.CSS_SELECTOR, "#co-bought a") or "Nothing recorded" in browser.page_source
    width = browser.execute_script("return [document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], f"the page scrolls sideways on a phone: {width}"
    browser.save_screenshot(str(artifacts / "explore-phone-product.png"))

    browser.get(f"{base_url}/explore?phrase=connect+a+printer+to+a+computer")
    hits = wait(browser).until(lambda b: b.find_elements(By.CSS_SELECTOR, "#semantic > ul > li"))
    assert len(hits) == 10
    browser.save_screenshot(str(artifacts / "explore-phone-phrase.png"))
    for field in ("query-input", "phrase-input", "product-input"):
        label = browser.find_element(By.CSS_SELECTOR, f"label[for={field}]")
        assert label.text.strip()
