"""A real headless Chromium for page tests: Debian's `chromium` and `chromium-driver`, driven by
Selenium, fully offline (no driver download, no network but loopback)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from selenium import webdriver
from selenium.webdriver.chrome.service import Service


class BrowserUnavailable(Exception):
    """Chromium or its driver is not installed (`apt-get install chromium chromium-driver`)."""


@dataclass(frozen=True)
class ChromiumInstall:
    browser: str
    driver: str


def find_chromium() -> ChromiumInstall:
    """Debian's paths first, then PATH; raises with what to install when either is missing."""
    browser = _first(["/usr/bin/chromium", "chromium", "chromium-browser"])
    driver = _first(["/usr/bin/chromedriver", "chromedriver"])
    if browser is None or driver is None:
        missing = [
            name for name, path in (("chromium", browser), ("chromedriver", driver)) if not path
        ]
        raise BrowserUnavailable(
            f"{' and '.join(missing)} not found: apt-get install chromium chromium-driver"
        )
    return ChromiumInstall(browser, driver)


def _first(candidates: list[str]) -> str | None:
    for candidate in candidates:
        found = shutil.which(candidate)
        if found:
            return found
    return None


@contextmanager
def headless_chromium(install: ChromiumInstall) -> Iterator[webdriver.Chrome]:
    """One browser for a test session; both paths are given, so Selenium Manager never runs."""
    options = webdriver.ChromeOptions()
    options.binary_location = install.browser
    for argument in (
        "--headless=new",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-extensions",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1280,1024",
    ):
        options.add_argument(argument)
    if os.geteuid() == 0:  # Chromium refuses to run as root inside its sandbox (CI containers)
        options.add_argument("--no-sandbox")
    driver = webdriver.Chrome(options=options, service=Service(executable_path=install.driver))
    try:
        yield driver
    finally:
        driver.quit()
