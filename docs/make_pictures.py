"""Write the explain-view pictures of docs/rules.md: the test boards of issue 11, as read.

    .venv/bin/python docs/make_pictures.py

Each picture is ``vsm explain`` of one board in ``tests/domain/layout_boards.py`` (Miro dump).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from connectors.dump import load_dump  # noqa: E402
from service.domain.render.explain import explain_board  # noqa: E402
from tests.builders import to_miro_dump  # noqa: E402
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


def main() -> None:
    for name in BOARDS:
        elements = getattr(layout_boards, name)()
        board = load_dump(to_miro_dump(elements, name=name.replace("_", " ").capitalize()))
        path = ROOT / "docs" / "img" / f"explain-{name.replace('_', '-')}.svg"
        path.write_text(explain_board(board), encoding="utf-8")
        print(path)


if __name__ == "__main__":
    main()
