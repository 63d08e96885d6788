"""The course website (`lecture site`) in Chromium with every request outside localhost blocked.

The site is built once (a module fixture, from the committed notebooks, no execution; the build time is printed
and must stay within 60 s) and served from 127.0.0.1. Every page is opened: MathJax must have rendered the math
(no raw `$$` or `\\[` left in the text, MathJax output present where the page has math), every <img> must load,
nothing may be fetched from outside, and no script may fail. Navigation: from the landing page the sidebar and
the course map reach every lecture and homework page, and each page's "next" link leads on. Screenshots of the
landing page and of section 03 go to the run's screenshot folder (docs/screenshots/README.md).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from staticdriver import offline_page, serve, wait_mathjax  # noqa: E402

from lecture_admin import site  # noqa: E402

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
BUDGET_S = 60.0

PAGE_JS = r"""() => {
  const main = (document.querySelector('article') || document.body).cloneNode(true);
  main.querySelectorAll('pre, code, .highlight').forEach(e => e.remove());  // code may print a $ legitimately
  document.body.appendChild(main);
  const text = main.innerText;
  main.remove();
  const imgs = [...document.querySelectorAll('img')];
  return {
    title: document.title,
    raw_math: (text.match(/\$\$|\\\[|\\\(/g) || []).length,
    math_nodes: document.querySelectorAll('.math').length,
    mathjax: document.querySelectorAll('.MathJax, .MathJax_Display').length,
    mathjax_errors: document.querySelectorAll('.MathJax_Error, merror').length,
    imgs: imgs.length,
    broken: imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.getAttribute('src')),
    next: (document.querySelector('a.next-page') || {}).href || null,
    links: [...document.querySelectorAll('.sidebar-tree a.reference')].map(a => a.href),
  };
}"""


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    r = site.build(ROOT, out)
    print(f"\nlecture site: {r['seconds']:.1f} s, {r['pages']} pages, {r['bytes'] / 1e6:.1f} MB")
    assert r["seconds"] <= BUDGET_S, f"the site build took {r['seconds']:.0f} s (budget {BUDGET_S:.0f} s)"
    with serve(Path(r["html"])) as base:
        yield base, Path(r["html"])


def _pages(html: Path) -> list[str]:
    skip = {"genindex.html", "search.html"}
    return sorted(str(p.relative_to(html)) for p in html.rglob("*.html") if p.name not in skip)


def test_site_has_lectures_and_homework_not_solutions(built):
    _, html = built
    pages = _pages(html)
    lectures = sorted(p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    homework = sorted(p.stem for p in (ROOT / "exercises").glob("[0-9][0-9]_*.ipynb"))
    assert [p for p in pages if p.startswith("lectures/")] == [f"lectures/{s}.html" for s in lectures]
    assert [p for p in pages if p.startswith("homework/")] == [f"homework/{s}.html" for s in homework]
    text = "\n".join((html / p).read_text() for p in pages if p.startswith("homework/"))
    assert "### BEGIN SOLUTION" not in text and "NotImplementedError" in text  # statements, never answers
    assert not site.find_remote_loads(html)


def test_every_page_offline_math_images_navigation(chromium, built, screenshot_dir):
    base, html = built
    pages = _pages(html)
    page, log = offline_page(chromium, base, width=1280, height=900)
    try:
        seen = {}
        for rel in pages:
            page.goto(f"{base}/{rel}")
            wait_mathjax(page)
            info = page.evaluate(PAGE_JS)
            seen[rel] = info
            assert info["raw_math"] == 0, f"{rel}: {info['raw_math']} raw math delimiters left in the text"
            assert info["mathjax_errors"] == 0, f"{rel}: MathJax errors"
            if info["math_nodes"]:
                assert info["mathjax"] > 0, f"{rel}: has math but MathJax rendered none"
            assert not info["broken"], f"{rel}: images that did not load: {info['broken'][:3]}"
        lecture_pages = [p for p in pages if p.startswith("lectures/")]
        assert all(seen[p]["imgs"] > 0 for p in lecture_pages), "a lecture page without its figures"
        assert sum(seen[p]["imgs"] for p in lecture_pages) >= 20, "the lectures' figures are missing"
        assert sum(seen[p]["mathjax"] for p in lecture_pages) >= 50, "the lectures' math is not rendered"
        # navigation: the sidebar of the landing page links every lecture and homework page, and they resolve
        links = {u.split("#")[0].replace(base + "/", "") for u in seen["index.html"]["links"]}
        assert {p for p in pages if p.startswith(("lectures/", "homework/"))} <= links
        # clicking through: landing page -> section 03 by the course map, then "next" to section 04
        page.goto(f"{base}/index.html")
        page.locator("article a[href*='lectures/03_']").first.click()
        page.wait_for_url("**/lectures/03_*.html")
        wait_mathjax(page)
        page.screenshot(path=str(screenshot_dir / "site_03_successor_features.png"))
        page.locator("a.next-page").first.click()
        page.wait_for_url("**/lectures/04_*.html")
        page.goto(f"{base}/index.html")
        wait_mathjax(page)
        page.screenshot(path=str(screenshot_dir / "site_landing.png"))
        assert not log.blocked, f"requests outside localhost: {sorted(set(log.blocked))[:5]}"
        assert not log.failed, f"failed requests: {log.failed[:5]}"
        assert not log.errors, f"script errors: {log.errors[:5]}"
        print(f"{len(pages)} pages offline: {sum(i['imgs'] for i in seen.values())} images, "
              f"{sum(i['mathjax'] for i in seen.values())} rendered equations")
    finally:
        page.close()
