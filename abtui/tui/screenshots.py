"""Regenerate the README pictures: ``python -m abtui.tui.screenshots screenshots``.

Writes ``console.svg`` (main screen), ``diff.svg`` (diff view, code tab), ``grid.svg``
(every metric, with the cursor) and ``gpus.svg``
(GPU view with the power-capped GPU) from the fixed fixtures in :mod:`abtui.tui.fixtures`,
so the pictures are the same on every machine. With ``--png`` (needs cairosvg) each SVG
also gets a PNG beside it.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from abtui.tui.fixtures import fixture_app

SIZE = (120, 40)


async def _console(pilot: Any) -> None:
    await pilot.pause()


async def _diff(pilot: Any) -> None:
    await pilot.press("d")
    await pilot.pause()
    pilot.app.screen.show_category("code")
    await pilot.pause()


async def _gpus(pilot: Any) -> None:
    await pilot.press("g")
    await pilot.pause()


async def _grid(pilot: Any) -> None:
    await pilot.press("v")
    await pilot.pause(0.3)
    await pilot.press("c", "right_square_bracket")
    await pilot.pause(0.3)


SHOTS: dict[str, Callable[[Any], Awaitable[None]]] = {
    "console": _console, "diff": _diff, "gpus": _gpus, "grid": _grid,
}


async def shoot(name: str, out_dir: Path, size: tuple[int, int] = SIZE) -> Path:
    """One screenshot of the fixture console, after the steps named ``name``."""
    app = fixture_app("running")
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        await SHOTS[name](pilot)
        await pilot.pause()
        app.title = f"abtui — {name}"
        path = app.save_screenshot(filename=f"{name}.svg", path=str(out_dir))
    return Path(path)


def to_png(svg: Path) -> Path | None:
    """A PNG beside the SVG, if cairosvg is installed (only for looking at it)."""
    try:
        import cairosvg
    except ImportError:
        return None
    png = svg.with_suffix(".png")
    cairosvg.svg2png(url=str(svg), write_to=str(png), output_width=1600)
    return png


def main(argv: list[str] | None = None) -> int:
    """Write every screenshot into the directory given."""
    p = argparse.ArgumentParser(prog="python -m abtui.tui.screenshots", description=__doc__)
    p.add_argument("out_dir", type=Path)
    p.add_argument("--png", action="store_true", help="also write PNGs (needs cairosvg)")
    args = p.parse_args(argv)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    for name in SHOTS:
        svg = asyncio.run(shoot(name, args.out_dir))
        print(svg)
        if args.png:
            png = to_png(svg)
            print(png or "cairosvg is not installed: no PNG")
    return 0


if __name__ == "__main__":
    sys.exit(main())
