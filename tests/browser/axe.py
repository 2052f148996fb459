"""axe-core in the page: WCAG 2.1 A/AA violations of serious or critical impact.

axe-core comes from the npm registry, pinned by package-lock.json beside this file and
installed by scripts/test; nothing is downloaded while the tests run. The page's context
must be made with ``bypass_csp=True``, or the page's own CSP refuses the injected script.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page

AXE = Path(__file__).resolve().parent / "node_modules" / "axe-core" / "axe.min.js"
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
BLOCKING = ("serious", "critical")

_RUN = """async (tags) => {
  const result = await axe.run(document, {runOnly: {type: 'tag', values: tags}});
  return result.violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.slice(0, 5).map(n => n.target.join(' ')),
  }));
}"""


async def serious_violations(page: Page) -> list[dict[str, Any]]:
    """Run axe-core on the page as it is now; return the serious and critical findings."""
    if not AXE.exists():
        pytest.fail("axe-core is missing: scripts/test installs it (npm ci --prefix tests/browser)")
    if not await page.evaluate("typeof window.axe !== 'undefined'"):
        await page.add_script_tag(content=AXE.read_text(encoding="utf-8"))
    found: list[dict[str, Any]] = await page.evaluate(_RUN, TAGS)
    return [violation for violation in found if violation["impact"] in BLOCKING]
