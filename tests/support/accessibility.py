"""Accessibility checks with axe-core (Deque's engine, as browser extensions run it) in the
browser tests' Chromium.

axe-core comes from the npm registry through scripts/install-axe.sh into a cache outside the
work tree. Every page a watched browser page goes to is checked (`check_every_visit`), as
is the page a test leaves and every screenshot; `assert_accessible` checks a page as it
stands, after the test has opened dialogs or filled forms.
"""

from __future__ import annotations

import functools
import subprocess
from pathlib import Path

INSTALL_SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "install-axe.sh"
# what fails a test: findings axe rates serious or critical, and any landmark rule (a
# landmark repeated without a name leaves screen-reader users guessing, though axe rates
# it moderate)
FAILING_IMPACTS = ("serious", "critical")
ALWAYS_FAILING_RULES = (
    "landmark-unique",
    "landmark-no-duplicate-main",
    "landmark-no-duplicate-banner",
    "landmark-no-duplicate-contentinfo",
)
# errors that only mean the page went on to another before axe had finished
LEFT_THE_PAGE = (
    "Execution context was destroyed",
    "has been closed",
    "Target closed",
    "frame was detached",
)


@functools.lru_cache(maxsize=1)
def axe_source() -> str:
    path = subprocess.run(
        ["bash", str(INSTALL_SCRIPT)], check=True, capture_output=True, text=True
    ).stdout.strip()
    return Path(path).read_text()


_RUN = """async () => {
  const results = await axe.run(document, {resultTypes: ["violations"]});
  return results.violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help,
    targets: v.nodes.slice(0, 5).map(n => n.target.join(" ")),
  }));
}"""


def violations(page) -> list[str]:
    """What axe finds on the page as it stands that fails a test, one line each."""
    if not page.evaluate("typeof window.axe === 'object'"):
        page.evaluate(axe_source())
    found = page.evaluate(_RUN)
    return [
        f"{page.url}: {v['id']} ({v['impact']}) {v['help']} at {', '.join(v['targets'])}"
        for v in found
        if v["impact"] in FAILING_IMPACTS or v["id"] in ALWAYS_FAILING_RULES
    ]


def assert_accessible(page) -> None:
    found = violations(page)
    assert found == [], "axe-core found accessibility problems:\n" + "\n".join(found)


def check(page, problems: list[str]) -> None:
    """Add what axe finds on the page as it stands to `problems`."""
    try:
        problems.extend(violations(page))
    except Exception as error:  # noqa: BLE001 - playwright's Error; the page may have moved on
        if not any(marker in str(error) for marker in LEFT_THE_PAGE):
            problems.append(f"{page.url}: axe could not run: {error}")


def check_every_visit(page, problems: list[str]) -> None:
    """Check each page the test goes to, adding what axe finds to `problems`. After `goto`
    rather than in a "load" handler: a handler's evaluate can hang under eventlet."""
    go = page.goto

    def goto(*args, **kwargs):
        response = go(*args, **kwargs)
        check(page, problems)
        return response

    page.goto = goto


def horizontal_overflow(page) -> int:
    """How many CSS pixels the page is wider than the window (0: no sideways scrolling)."""
    return page.evaluate("document.documentElement.scrollWidth - window.innerWidth")


def sticking_out(page, limit: int = 3) -> list[str]:
    """The innermost elements that reach past the window's right edge, to say what to fix."""
    return page.evaluate(
        """limit => {
      const width = window.innerWidth, out = [];
      for (const element of document.body.querySelectorAll("*")) {
        if (element.getBoundingClientRect().right <= width + 0.5) continue;
        const right = c => c.getBoundingClientRect().right;
        if ([...element.children].some(c => right(c) > width + 0.5)) continue;
        let parent = element.parentElement, inScroller = false;
        for (; parent; parent = parent.parentElement) {
          if (getComputedStyle(parent).overflowX !== "visible") { inScroller = true; break; }
        }
        const classes = element.className
          ? "." + String(element.className).split(" ").join(".") : "";
        if (!inScroller) out.push(element.tagName.toLowerCase() + classes);
      }
      return out.slice(0, limit);
    }""",
        limit,
    )
