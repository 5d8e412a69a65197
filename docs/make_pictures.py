"""Write the explain-view pictures of docs/rules.md: the test boards of issue 11, as read; with
``--web``, also the front door's screenshots of docs/web.md and docs/portfolio.md.

    .venv/bin/python docs/make_pictures.py [--web]

Each explain picture is ``vsm explain`` of one board in ``tests/domain/layout_boards.py`` (Miro
dump). The screenshots are the ones the browser tests take (headless Chromium,
``tests/browser/test_portfolio_pages.py``, saved to ``test-output/``), copied here.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from connectors.dump import load_dump  # noqa: E402
from service.domain.render.explain import explain_board  # noqa: E402
from testkit.builders import to_miro_dump  # noqa: E402
from tests.domain import layout_boards  # noqa: E402

BOARDS = (
    "sideways_times",
    "column_rows",
    "lanes_of_different_heights",
    "full_width_bands",
    "column_lanes",
    "row_headings",
    "vsm_template",
    "plain_lines",
    "handwritten_times",
)

# screenshot in test-output/ -> picture in docs/
SCREENSHOTS = {
    "web-portfolio.png": "web-portfolio.png",
    "web-recurring-problems.png": "web-recurring-problems.png",
    "web-board-labels-trends.png": "web-board-labels-trends.png",
}
BROWSER_TESTS = "tests/browser/test_portfolio_pages.py"


def screenshots() -> None:
    """Run the browser tests that take the screenshots and copy them into docs/."""
    import pytest

    if pytest.main(["-q", "-p", "no:cacheprovider", str(ROOT / BROWSER_TESTS)]) != 0:
        raise SystemExit("the browser tests failed: no screenshots copied")
    for shot, picture in SCREENSHOTS.items():
        shutil.copyfile(ROOT / "test-output" / shot, ROOT / "docs" / picture)
        print(ROOT / "docs" / picture)


def main() -> None:
    if "--web" in sys.argv[1:]:
        screenshots()
    for name in BOARDS:
        elements = getattr(layout_boards, name)()
        board = load_dump(to_miro_dump(elements, name=name.replace("_", " ").capitalize()))
        path = ROOT / "docs" / "img" / f"explain-{name.replace('_', '-')}.svg"
        path.write_text(explain_board(board), encoding="utf-8")
        print(path)


if __name__ == "__main__":
    main()
