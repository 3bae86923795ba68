"""Every ```python block of README.md and docs/*.md runs, page by page, so the docs cannot rot.

The blocks of one page run in order in one namespace, as a reader would paste them. A
block preceded by the line ``<!-- not-run -->`` is skipped: only for one that needs a
service the test machine cannot have. A failure points at the page's own line.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
NOT_RUN = "<!-- not-run -->"
_BLOCK = re.compile(r"^```python\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def blocks(text: str) -> list[tuple[int, str, bool]]:
    """Each python block of ``text``: the line its code starts on, the code, whether it runs."""
    found = []
    for match in _BLOCK.finditer(text):
        line = text.count("\n", 0, match.start(1)) + 1
        before = text[: match.start()].rstrip("\n").rpartition("\n")[2]
        found.append((line, match.group(1), before.strip() != NOT_RUN))
    return found


def test_blocks_are_found_with_their_lines_and_the_opt_out() -> None:
    """The parser finds each block, the page line of its code, and the marker before it."""
    page = (
        "# t\n\n```python\nx = 1\n```\n\n"
        "<!-- not-run -->\n```python\ny = 2\n```\n```text\nz\n```\n"
    )
    assert blocks(page) == [(4, "x = 1\n", True), (9, "y = 2\n", False)]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_the_python_blocks_of_a_page_run(page: Path) -> None:
    """Every runnable block of the page runs, in order, in one namespace."""
    found = blocks(page.read_text())
    assert any(runs for _, _, runs in found), f"{page.name} has no runnable block"
    namespace: dict[str, object] = {"__name__": f"docs_{page.stem}"}
    for line, code, runs in found:
        if runs:
            # Padded, so that a traceback names the page's own line.
            compiled = compile("\n" * (line - 1) + code, str(page.relative_to(ROOT)), "exec")
            exec(compiled, namespace)  # noqa: S102 - running our own documentation
