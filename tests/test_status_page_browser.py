"""The status page in a real headless Chromium: what a person sees, that its links are the
declared ones, and that registry text carrying markup runs nothing, loads nothing, changes nothing.

The page is served from a loopback `http.server` with the header the controller sends.
Without Chromium the tests skip with the reason, except under CI, where they fail.
"""

from __future__ import annotations

import os
import threading
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.common.by import By

from controller.daemon.status import AliasStatus, ControllerStatus, ManifestStatus, Reconcile
from controller.render.status_page import CONTENT_SECURITY_POLICY, status_page_html
from testing.browser import BrowserUnavailable, find_chromium, headless_chromium
from testing.waiting import wait_until
from tests.test_controller import Origin, in_sync_at, manifest, reconciled_at
from tests.test_controller import controller as running_controller

pytestmark = pytest.mark.browser

COMMIT = "89abcdef0123456789abcdef0123456789abcdef"
STARTED = 1_780_000_000.0


@pytest.fixture(scope="session")
def browser() -> Iterator[webdriver.Chrome]:
    """One Chromium for the session (session-scoped: it sees the CI variable the suite runs in)."""
    try:
        install = find_chromium()
    except BrowserUnavailable as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"headless Chromium unavailable under CI: {exc}", pytrace=False)
        pytest.skip(f"headless Chromium unavailable: {exc}")
    with headless_chromium(install) as driver:
        yield driver


class PageServer:
    """Serves `page()` at `/` on loopback and records every path a browser asked for."""

    def __init__(self, page: Callable[[], str]) -> None:
        self.page = page
        self.requested: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requested.append(self.path)
                found = self.path == "/"
                body = server.page().encode() if found else b"not found"
                self.send_response(200 if found else 404)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Security-Policy", CONTENT_SECURITY_POLICY)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}/"


@contextmanager
def serving(page: Callable[[], str]) -> Iterator[PageServer]:
    server = PageServer(page)
    thread = threading.Thread(target=server.http.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.http.shutdown()
        server.http.server_close()


def controller_status(
    *aliases: AliasStatus, interval: float = 30.0, **fields: object
) -> ControllerStatus:
    manifest = ManifestStatus.model_validate(
        {
            "path": "registry.yaml",
            "registry": "http://mlflow.internal:5000",
            "head_commit": COMMIT,
            "last_applied_commit": COMMIT,
            "commit_url": f"https://github.com/acme/registry/commit/{COMMIT}",
            "aliases": list(aliases),
            "last_reconcile": Reconcile(
                commit=COMMIT,
                result="applied",
                started_at=STARTED,
                duration_seconds=0.5,
                summary="1 applied",
            ),
            "last_success_at": STARTED,
            **fields,
        }
    )
    return ControllerStatus(
        repo="https://github.com/acme/registry.git",
        branch="main",
        interval_seconds=interval,
        self_heal=False,
        started_at=STARTED,
        manifests=[manifest],
    )


def alias_rows(browser: webdriver.Chrome) -> list[tuple[str, str | None]]:
    """Each alias row as shown: its cells' text, and whether the row says it is in sync."""
    return [
        (row.text, row.get_attribute("data-in-sync"))
        for row in browser.find_elements(By.CSS_SELECTOR, "tr.alias")
    ]


def no_alert(browser: webdriver.Chrome) -> bool:
    try:
        browser.switch_to.alert  # noqa: B018 (the property raises when there is none)
    except NoAlertPresentException:
        return True
    return False


def test_a_person_sees_each_alias_declared_and_live_and_the_commit_link(browser) -> None:
    status = controller_status(
        AliasStatus(model="bikes", alias="champion", declared=3, live=3),
        AliasStatus(model="bikes", alias="challenger", declared=4, live=2),
    )
    with serving(lambda: status_page_html(status)) as server:
        browser.get(server.url)

        assert browser.title == "mlflow-gitops controller"
        assert alias_rows(browser) == [
            ("bikes champion 3 3 in sync", "true"),
            ("bikes challenger 4 2 out of sync", "false"),
        ]
        heading = browser.find_element(By.CSS_SELECTOR, "section.manifest h2").text
        assert heading == "registry.yaml out of sync"
        link = browser.find_element(By.CSS_SELECTOR, "a.commit")
        assert link.text == COMMIT[:12]
        assert link.get_attribute("href") == f"https://github.com/acme/registry/commit/{COMMIT}"
        live = browser.find_element(By.CSS_SELECTOR, "tr.alias td.live a")
        assert live.get_attribute("href") == "http://mlflow.internal:5000/#/models/bikes/versions/3"
        # The stylesheet is allowed by its hash: the page is styled, not blocked by its policy.
        ok = browser.find_element(By.CSS_SELECTOR, "tr.alias .in-sync")
        assert ok.value_of_css_property("color") == "rgba(26, 127, 55, 1)"
        assert server.requested == ["/"]


def test_markup_in_registry_text_runs_nothing_loads_nothing_and_is_shown_as_text(browser) -> None:
    with serving(lambda: "") as server:
        leak = f"{server.url}leak"
        hostile = (
            f"<script>window.pwned = 1; document.title = 'pwned'; alert(1);"
            f' fetch(\'{leak}\')</script><img src="{leak}" onerror="alert(2)">'
            f'<a id="injected" href="javascript:alert(3)">x</a>\x1b[2J\u202e'
        )
        status = controller_status(
            AliasStatus(model=hostile, alias=hostile, declared=1, live=1),
            errors=[hostile],
            last_reconcile=Reconcile(
                commit=hostile,
                result="error",
                started_at=STARTED,
                duration_seconds=0.0,
                summary=hostile,
            ),
        )
        server.page = lambda: status_page_html(status)
        browser.get(server.url)

        assert browser.title == "mlflow-gitops controller"
        assert no_alert(browser)
        assert browser.execute_script("return typeof window.pwned") == "undefined"
        assert browser.execute_script("return document.scripts.length") == 0
        assert not browser.find_elements(By.CSS_SELECTOR, "img, #injected, [onerror]")
        assert server.requested == ["/"]  # no /leak: nothing was fetched
        summary = browser.find_element(By.CSS_SELECTOR, ".summary").text
        assert summary.startswith("<script>window.pwned = 1;")
        assert "\\x1b[2J\\u202e" in summary


def test_the_policy_stops_a_script_even_if_one_reached_the_page(browser) -> None:
    """Defence in depth: were escaping ever bypassed, the Content-Security-Policy still holds."""
    page = status_page_html(controller_status()).replace(
        "<body>", "<body><script>window.pwned = 1; document.title = 'pwned'</script>"
    )
    with serving(lambda: page) as server:
        browser.get(server.url)

        assert browser.execute_script("return document.scripts.length") == 1
        assert browser.execute_script("return typeof window.pwned") == "undefined"
        assert browser.title == "mlflow-gitops controller"


def test_the_page_reloads_itself_and_shows_the_new_status(browser) -> None:
    statuses = iter(
        [
            controller_status(
                AliasStatus(model="bikes", alias="champion", declared=3, live=2), interval=5
            ),
            controller_status(
                AliasStatus(model="bikes", alias="champion", declared=3, live=3), interval=5
            ),
        ]
    )
    latest = next(statuses)

    def page() -> str:
        nonlocal latest
        shown = status_page_html(latest)
        latest = next(statuses, latest)
        return shown

    with serving(page) as server:
        browser.get(server.url)
        assert alias_rows(browser)[0][1] == "false"

        wait_until(lambda: len(server.requested) >= 2, "the page's meta refresh", timeout_s=60)
        wait_until(lambda: alias_rows(browser)[0][1] == "true", "the reloaded page", timeout_s=30)
        assert "bikes champion 3 3 in sync" in browser.find_element(By.TAG_NAME, "body").text


@pytest.mark.server
def test_the_real_controller_page_shows_what_it_applied_and_the_drift_it_found(
    browser, mlflow_server: str, make_model, server_client, tmp_path: Path
) -> None:
    """`mlflow-gitops controller` as a process against a real server and a bare repository:
    its `/` shows the applied commit and, after a hand-made change, the drift, under its CSP."""
    model = make_model("page", versions=2)
    origin = Origin(tmp_path)
    sha = origin.push(manifest({model: {"champion": 2}}), "declare")
    with running_controller(origin, mlflow_server, tmp_path / "page.log", "--interval", "0.5") as (
        url,
        _,
    ):
        wait_until(lambda: reconciled_at(url, sha, "applied"), "the first apply")
        server_client.set_registered_model_alias(model, "champion", "1")
        wait_until(lambda: not in_sync_at(url, sha), "the drift to be seen")
        with urllib.request.urlopen(f"{url}/", timeout=10) as response:
            policy = response.headers["Content-Security-Policy"]
        browser.get(f"{url}/")

        assert policy == CONTENT_SECURITY_POLICY
        assert browser.title == "mlflow-gitops controller"
        assert alias_rows(browser) == [(f"{model} champion 2 1 out of sync", "false")]
        fields = browser.find_element(By.CSS_SELECTOR, "section.manifest dl").text
        assert f"Last applied commit\n{sha[:12]}" in fields
        assert "applied at" in fields or "no_changes at" in fields
        assert not browser.find_elements(By.CSS_SELECTOR, "a.commit")  # file://: no link
        assert browser.execute_script("return document.scripts.length") == 0
    assert server_client.get_registered_model(model).aliases["champion"] == "1"  # only reported
