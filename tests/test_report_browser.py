"""The HTML report in a real browser (headless Debian Chromium through playwright): no console
errors, no network, charts and tables visible, the pages table filters and sorts, and clicking
the seed page opens its text with the flagged lines highlighted. Saves a screenshot
(docs/report.png with PAGESCORE_UPDATE_SCREENSHOT=1)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jobs.nightly import NightlyConfig, run_nightly
from jobs.report.html import write_html_report
from jobs.report.summary import build_summary

REPO = Path(__file__).resolve().parent.parent
CORPUS = Path(os.environ.get("PAGESCORE_SHARED", REPO.parent / "shared")) / "corpus"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
# The README's screenshot is refreshed only on request, so a test run leaves the tree clean.
SCREENSHOT = (REPO / "docs" / "report.png" if os.environ.get("PAGESCORE_UPDATE_SCREENSHOT")
              else Path(os.environ.get("TMPDIR", "/tmp")) / "pagescore-report.png")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(),
                       reason="headless browser test needs Debian's chromium at /usr/bin/chromium "
                              "(apt-get install -y chromium)"),
    pytest.mark.skipif(not (CORPUS / "seed_page.txt").is_file(),
                       reason=f"the shared corpus is not at {CORPUS}"),
]


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The HTML report of the second of two small real runs (so it has a previous run)."""
    root = tmp_path_factory.mktemp("browser")
    seed = root / "seed_page.txt"
    shutil.copyfile(CORPUS / "seed_page.txt", seed)
    parts = []
    for date, name in (("2026-01-01", "dolma_ccmain2019_sample.jsonl"),
                       ("2026-01-02", "dclm_human_quality_annotations.jsonl")):
        crawl = root / f"{date}.jsonl"
        with (CORPUS / "crawl" / name).open(encoding="utf-8") as fh:
            crawl.write_text("".join(next(fh) for _ in range(30)), encoding="utf-8")
        parts.append(run_nightly(NightlyConfig([seed, crawl], out=root / "runs", date=date,
                                               workers=1)).partition)
    path = root / "report.html"
    write_html_report(parts[-1], build_summary(parts[-1]), path)
    return path


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


def test_report_in_browser(browser: Any, report: Path) -> None:
    page = browser.new_page(viewport={"width": 1366, "height": 1000})
    errors: list[str] = []
    requests: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: requests.append(r.url))
    page.goto(report.as_uri())
    page.wait_for_load_state("load")

    # charts and tables are there and visible
    for sel in ("#decisions svg", "#history svg", ".drift-grid svg.mini", "#reasons table",
                "#sources", "#pages"):
        assert page.locator(sel).first.is_visible(), sel
    assert page.locator("#decisions svg").count() == 2
    rows = page.locator("#pages tbody tr")
    total = rows.count()
    assert total >= 31  # 30 crawl records + the seed page
    assert page.locator("#f-count").inner_text().startswith(f"{total} of {total}")

    SCREENSHOT.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOT))

    # filtering by text, then by decision
    page.fill("#f-q", "seed_page")
    assert rows.count() == 1 and "seed_page.txt" in rows.first.inner_text()
    page.fill("#f-q", "")
    assert rows.count() == total
    page.select_option("#f-decision", "reject")
    n_reject = rows.count()
    assert 1 <= n_reject < total
    assert all(t == "reject" for t in page.locator("#pages tbody .dec").all_inner_texts())
    page.select_option("#f-decision", "")

    # sorting: lowest score first, then highest first after a click on the header
    def scores() -> list[float]:
        return [float(x) for x in page.locator("#pages tbody td:nth-child(2)").all_inner_texts()]

    assert scores() == sorted(scores())
    page.click("#pages th[data-key=score]")
    assert scores() == sorted(scores(), reverse=True)

    # the page view: the seed page's text with its error, duplicate and boilerplate lines
    page.fill("#f-q", "seed_page")
    rows.first.click()
    view = page.locator("#page-view")
    assert view.is_visible()
    assert "seed_page.txt" in view.locator("h3").inner_text()
    assert "Sorry!!" in view.inner_text()
    errors_hl = view.locator(".ln.f-error")
    assert errors_hl.count() >= 1 and "403" in errors_hl.all_inner_texts()[0]
    assert view.locator(".ln.f-dup").count() >= 4
    assert view.locator(".ln.f-boiler").count() >= 1
    assert view.locator(".ln.f-error").first.evaluate(
        "el => getComputedStyle(el).backgroundColor") != "rgba(0, 0, 0, 0)"
    view.locator("input[data-flag=dup]").uncheck()
    assert view.locator(".ln.f-dup").count() == 0
    page.keyboard.press("Escape")
    assert not view.is_visible()

    assert errors == []
    assert all(u.startswith(("file:", "data:", "about:")) for u in requests), requests
    page.close()
