"""What a serving process sets up before it serves: its event loop and its heap."""

from __future__ import annotations

import gc

from app.wiring import serving_loop, settle_heap


def test_a_serving_process_runs_on_uvloop() -> None:
    loop = serving_loop()()
    try:
        assert type(loop).__module__.startswith("uvloop")
        assert loop.run_until_complete(_answer()) == 42
    finally:
        loop.close()


async def _answer() -> int:
    return 42


def test_settling_the_heap_takes_what_is_alive_out_of_full_collections() -> None:
    try:
        settle_heap()
        frozen = gc.get_freeze_count()
        assert frozen > 10_000  # the imported libraries at least
        assert len(gc.get_objects(generation=2)) < frozen  # a full collection no longer walks them
    finally:
        gc.unfreeze()
