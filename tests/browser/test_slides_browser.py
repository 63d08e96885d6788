"""The lecture notebooks as reveal.js slide shows (`lecture slides NN`), in Chromium, offline.

Each show is exported once, served from 127.0.0.1, and opened at 1280x720 (a projector) with every request
outside localhost blocked. The test advances through every slide and fragment with reveal's own `next()` (what
the space bar does) and, on each, waits for MathJax and measures the slide: its content must fit the 1280x720
slide (scrollHeight <= clientHeight). A slide whose single cell is taller than the slide is shrunk by the
template, never below 0.8 (checked here; the count is printed). Every image must load, no script may fail,
nothing may be fetched from outside. A slide of section 03's show (one with math, code and output) is
screenshotted to the run's screenshot folder (docs/screenshots/README.md says how to refresh the kept one).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from staticdriver import offline_page, serve, wait_mathjax  # noqa: E402

from lecture_admin import slides  # noqa: E402

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = [p.stem for p in slides.lecture_notebooks(ROOT)]
MIN_FIT = 0.8  # the template's floor for shrinking a slide that is too tall (course_slides.html.j2)

STATE_JS = """() => {
  const R = window.CourseReveal, s = R.getCurrentSlide(), i = R.getIndices();
  const imgs = [...s.querySelectorAll('img')];
  return {h: i.h, v: i.v, f: (i.f === undefined ? -1 : i.f), scroll: s.scrollHeight, client: s.clientHeight,
          width: s.scrollWidth, cwidth: s.clientWidth, fit: parseFloat(s.getAttribute('data-fit') || '1'),
          math: s.querySelectorAll('.MathJax, .MathJax_Display').length,
          code: s.querySelectorAll('.jp-CodeCell').length,
          imgs: imgs.length, broken: imgs.filter(im => !(im.complete && im.naturalWidth > 0)).length,
          text: (s.innerText || '').slice(0, 60)};
}"""


@pytest.fixture(scope="module")
def shows(tmp_path_factory):
    out = tmp_path_factory.mktemp("slides")
    for stem in NOTEBOOKS:
        slides.export(ROOT / "notebooks" / f"{stem}.ipynb", out)
    with serve(out) as base:
        yield base


# The walk runs in the page, one stop after another as reveal's next() visits them: on each stop it waits for
# MathJax's queue (the template re-renders the slide's math and re-fits it on every slide change), for the slide's
# images, for the template's re-fit on an image's load event and two frames, then measures it (STATE_JS).
WALK_JS = """async () => {
  const R = window.CourseReveal, state = (__STATE_JS__);
  const mathjax = () => new Promise(done => (window.MathJax && MathJax.Hub) ? MathJax.Hub.Queue(done) : done());
  const sleep = (ms) => new Promise(r => setTimeout(r, ms));
  const frames = () => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
  R.slide(0, 0, -1);
  const stops = [];
  for (let k = 0; k < 500; k++) {
    await mathjax();
    for (let i = 0; i < 300 && ![...R.getCurrentSlide().querySelectorAll('img')].every(im => im.complete); i++) {
      await sleep(50);
    }
    await sleep(50);
    await frames();
    await mathjax();
    stops.push(state());
    if (R.isLastSlide() && !R.availableFragments().next) { return {stops, ended: true}; }
    R.next();
  }
  return {stops, ended: false};
}""".replace("__STATE_JS__", STATE_JS.strip())


def walk(page) -> list[dict]:
    """Every stop of the show (slides, sub-slides, fragments) from the first, as reveal's next() visits them."""
    page.wait_for_function("window.CourseReveal && window.CourseReveal.isReady()")
    wait_mathjax(page)
    out = page.evaluate(WALK_JS)
    assert out["ended"], "the show did not end after 500 steps"
    return out["stops"]


@pytest.mark.parametrize("stem", NOTEBOOKS)
def test_slide_show_fits_1280x720_offline(chromium, shows, stem, screenshot_dir):
    page, log = offline_page(chromium, shows)
    try:
        page.goto(f"{shows}/{stem}.slides.html")
        stops = walk(page)
        slides_seen = {(s["h"], s["v"]) for s in stops}
        total = page.evaluate("() => window.CourseReveal.getTotalSlides()")
        assert len(slides_seen) == total, f"visited {len(slides_seen)} of {total} slides"
        over = [s for s in stops if s["scroll"] > s["client"] + 1 or s["width"] > s["cwidth"] + 1]
        assert not over, "slides overflow 1280x720 (fix by the annotator's rules or a slide: tag):\n" + "\n".join(
            f"  slide {s['h']}.{s['v']}: content {s['width']}x{s['scroll']} > {s['cwidth']}x{s['client']} "
            f"({s['text']!r})" for s in over)
        shrunk = sorted({(s["h"], s["v"], s["fit"]) for s in stops if s["fit"] < 1})
        assert all(f >= MIN_FIT for *_, f in shrunk), f"slides shrunk below {MIN_FIT}: {shrunk}"
        assert not any(s["broken"] for s in stops), [s for s in stops if s["broken"]]
        assert page.locator(".MathJax, .MathJax_Display").count() > 0 or stem == "00_getting_started" \
            or page.evaluate("() => document.body.innerText.indexOf('$$') < 0")
        assert "$$" not in page.evaluate("() => document.querySelector('.slides').innerText")
        assert not log.blocked, f"requests outside localhost: {log.blocked[:5]}"
        assert not log.failed, f"failed requests: {log.failed[:5]}"
        assert not log.errors, f"script errors: {log.errors[:5]}"
        if stem == "03_successor_features":  # a slide with math, code and a figure if any
            prefer = [lambda s: s["math"] and s["code"] and s["imgs"], lambda s: s["math"] and s["code"],
                      lambda s: s["code"] and s["imgs"], lambda s: True]
            best = next(s for want in prefer for s in stops if want(s))
            page.evaluate(f"() => window.CourseReveal.slide({best['h']}, {best['v']})")
            wait_mathjax(page)
            page.screenshot(path=str(screenshot_dir / "slides_03_successor_features.png"))
        print(f"{stem}: {total} slides, {len(stops)} stops, none overflows 1280x720; "
              f"{len(shrunk)} shrunk to fit ({', '.join(f'{h}.{v}: {f:.2f}' for h, v, f in shrunk) or 'none'})")
    finally:
        page.close()
