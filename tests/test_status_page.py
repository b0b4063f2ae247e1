"""The status page (`/`): what a person sees of each manifest, and that registry text stays inert.

Pure: the page is rendered from a status value and parsed with the standard library's parser;
tests/test_status_page_browser.py looks at the same page in a real browser.
"""

from __future__ import annotations

import base64
import hashlib
import re
from html.parser import HTMLParser

from controller.daemon.status import (
    AliasStatus,
    ControllerStatus,
    ManifestStatus,
    Reconcile,
)
from controller.render.status_page import (
    CONTENT_SECURITY_POLICY,
    MAX_REFRESH_SECONDS,
    MIN_REFRESH_SECONDS,
    STYLE,
    status_page_html,
)

STARTED = 1_780_000_000.0  # 2026-05-28 20:26:40 UTC
COMMIT = "0123456789abcdef0123456789abcdef01234567"
HOSTILE = "<script>alert('x')</script>\"' onmouseover=\"alert(1)\x1b[31mred\u202eevil\r\n@team"
INLINE = {"a", "code", "span", "time"}


class Page(HTMLParser):
    """Every element's tag and attributes, and the page's visible text, as a browser parses it."""

    def __init__(self, source: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.style = ""
        self._in_style = False
        self.feed(source)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))
        self._in_style = tag == "style"
        self._separate(tag)

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False
        self._separate(tag)

    def _separate(self, tag: str) -> None:
        # Cells, terms and blocks read as separate words, as a browser lays them out.
        if tag not in INLINE:
            self.text.append(" ")

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.style += data
        else:
            self.text.append(data)

    def all(self, tag: str) -> list[dict[str, str | None]]:
        return [attrs for name, attrs in self.elements if name == tag]

    def meta(self, http_equiv: str) -> str | None:
        found = [m for m in self.all("meta") if m.get("http-equiv") == http_equiv]
        assert len(found) == 1
        return found[0]["content"]

    @property
    def visible(self) -> str:
        return " ".join("".join(self.text).split())


def status(*manifests: ManifestStatus, interval: float = 30.0, repo: str = "") -> ControllerStatus:
    return ControllerStatus(
        repo=repo or "https://github.com/acme/registry.git",
        branch="main",
        interval_seconds=interval,
        self_heal=True,
        started_at=STARTED,
        manifests=list(manifests),
    )


def manifest(**fields: object) -> ManifestStatus:
    values: dict[str, object] = {
        "path": "registry.yaml",
        "registry": "http://mlflow.internal:5000",
        "head_commit": COMMIT,
        "last_applied_commit": COMMIT,
        "commit_url": f"https://github.com/acme/registry/commit/{COMMIT}",
        "aliases": [
            AliasStatus(model="bikes", alias="champion", declared=3, live=3),
            AliasStatus(model="bikes", alias="challenger", declared=4, live=2),
        ],
        "last_reconcile": Reconcile(
            commit=COMMIT,
            result="applied",
            started_at=STARTED + 60,
            duration_seconds=0.42,
            summary="1 applied",
        ),
        "last_success_at": STARTED + 60,
    }
    values.update(fields)
    return ManifestStatus.model_validate(values)


def test_each_manifest_shows_its_aliases_declared_and_live_and_whether_they_are_in_sync() -> None:
    page = Page(status_page_html(status(manifest(), manifest(path="teams/fraud.yaml"))))

    assert "registry.yaml out of sync" in page.visible
    assert "teams/fraud.yaml out of sync" in page.visible
    assert "bikes champion 3 3 in sync" in page.visible
    assert "bikes challenger 4 2 out of sync" in page.visible
    assert "Manifests in sync 0 of 2" in page.visible
    rows = [attrs for attrs in page.all("tr") if attrs.get("class") == "alias"]
    assert [row["data-in-sync"] for row in rows] == ["true", "false"] * 2


def test_the_last_applied_commit_links_to_github_and_the_head_is_shown_short() -> None:
    page = Page(status_page_html(status(manifest())))

    links = [a["href"] for a in page.all("a") if a.get("class") == "commit"]
    assert links == [f"https://github.com/acme/registry/commit/{COMMIT}"]
    assert f"Branch head {COMMIT[:12]}" in page.visible
    assert f"Last applied commit {COMMIT[:12]}" in page.visible


def test_a_commit_url_that_is_not_https_is_shown_without_a_link() -> None:
    for url in ("javascript:alert(1)", "data:text/html,x", "//evil.example/x", "http://x/c"):
        page = Page(status_page_html(status(manifest(commit_url=url))))

        assert not [a for a in page.all("a") if a.get("class") == "commit"], url
        assert f"Last applied commit {COMMIT[:12]}" in page.visible


def test_versions_link_to_the_mlflow_ui_of_the_registry() -> None:
    page = Page(status_page_html(status(manifest())))

    hrefs = {a["href"] for a in page.all("a")}
    assert "http://mlflow.internal:5000/#/models/bikes/versions/3" in hrefs
    assert "http://mlflow.internal:5000/#/models/bikes/versions/2" in hrefs


def test_a_registry_without_a_web_ui_shows_plain_versions() -> None:
    page = Page(status_page_html(status(manifest(registry="databricks-uc"))))

    assert not [a for a in page.all("a") if "versions" in (a.get("href") or "")]
    assert "bikes champion 3 3 in sync" in page.visible


def test_the_last_reconcile_shows_its_result_time_duration_and_summary() -> None:
    page = Page(status_page_html(status(manifest())))

    assert (
        f"Last reconcile applied at 2026-05-28 20:27:40 UTC (0.42 s, commit {COMMIT[:12]}): "
        "1 applied" in page.visible
    )
    assert "Last success 2026-05-28 20:27:40 UTC" in page.visible
    assert "Started 2026-05-28 20:26:40 UTC" in page.visible


def test_the_last_errors_are_listed_newest_first_with_their_lines() -> None:
    errors = ["registry.yaml:4:7: unknown model 'bikez'\n  did you mean 'bikes'?", "older"]
    reconcile = Reconcile(
        commit=None, result="error", started_at=STARTED, duration_seconds=0.1, summary="invalid"
    )
    source = status_page_html(status(manifest(errors=errors, last_reconcile=reconcile)))
    page = Page(source)

    assert "Last errors" in page.visible
    assert page.visible.index("bikez") < page.visible.index("older")
    assert "unknown model 'bikez'\n  did you mean" in "".join(page.text)
    assert 'class="result result-error"' in source


def test_a_manifest_never_reconciled_shows_dashes_not_errors() -> None:
    fresh = ManifestStatus(path="registry.yaml", registry="http://mlflow.internal:5000")
    page = Page(status_page_html(status(fresh)))

    assert "Last applied commit — Last reconcile — Last success —" in page.visible
    assert "No alias declared." in page.visible
    assert "No manifest reconciled yet." in Page(status_page_html(status())).visible


def test_hostile_registry_text_is_shown_escaped_and_creates_no_element() -> None:
    hostile = manifest(
        path=HOSTILE,
        aliases=[AliasStatus(model=HOSTILE, alias=HOSTILE, declared=1, live=2)],
        errors=[HOSTILE],
        last_reconcile=Reconcile(
            commit=HOSTILE,
            result="error",
            started_at=STARTED,
            duration_seconds=0.0,
            summary=HOSTILE,
        ),
        head_commit=HOSTILE,
        commit_url=None,
    )
    source = status_page_html(status(hostile, repo=HOSTILE))
    page = Page(source)

    tags = {tag for tag, _ in page.elements}
    assert "script" not in tags
    assert not any(name.startswith("on") for _, attrs in page.elements for name in attrs)
    assert "<script>alert('x')</script>" in page.visible  # shown, as text
    assert "\\x1b[31mred\\u202eevil" in page.visible  # controls shown as escapes
    assert not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]", source)


def test_credentials_in_the_repository_and_registry_urls_are_never_shown() -> None:
    leaky = manifest(registry="https://alice:s3cret@mlflow.example.com")
    source = status_page_html(status(leaky, repo="https://x-access-token:ghp_t0k3n@github.com/a/b"))

    assert "s3cret" not in source
    assert "ghp_t0k3n" not in source
    assert "https://github.com/a/b" in Page(source).visible


def test_the_content_security_policy_allows_no_script_and_only_the_page_own_style() -> None:
    source = status_page_html(status(manifest()))
    page = Page(source)

    digest = base64.b64encode(hashlib.sha256(page.style.encode()).digest()).decode()
    assert page.style == STYLE
    for policy in (CONTENT_SECURITY_POLICY, page.meta("Content-Security-Policy")):
        assert policy
        directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
        assert directives["default-src"] == "'none'"
        assert directives["script-src"] == "'none'"
        assert directives["style-src"] == f"'sha256-{digest}'"
        assert "unsafe-inline" not in policy
    assert "frame-ancestors 'none'" in CONTENT_SECURITY_POLICY
    assert not page.all("script")


def test_the_page_refreshes_itself_about_once_per_interval_within_bounds() -> None:
    def refresh(interval: float) -> str | None:
        return Page(status_page_html(status(interval=interval))).meta("refresh")

    assert refresh(30) == "30"
    assert refresh(0.5) == str(MIN_REFRESH_SECONDS)
    assert refresh(3600) == str(MAX_REFRESH_SECONDS)


def test_a_branch_head_not_yet_applied_is_marked_so() -> None:
    newer = "fedcba9876543210fedcba9876543210fedcba98"
    waiting = Page(status_page_html(status(manifest(head_commit=newer))))
    applied = Page(status_page_html(status(manifest())))

    assert f"Branch head {newer[:12]} not applied Last applied commit {COMMIT[:12]}" in (
        waiting.visible
    )
    assert "not applied" not in applied.visible
