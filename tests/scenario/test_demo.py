"""`smartflow demo`: the README's run command works on a fresh machine and tells the whole story."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

from app.demo import run_demo


async def test_demo_runs_the_whole_loop(tmp_path: Path) -> None:
    out = io.StringIO()
    await run_demo(out, tmp_path)
    text = out.getvalue()
    # a due job fired and its card was printed, with an Apply button per option and an Ignore button
    assert "--- card to ou_alice" in text
    assert "k=apply" in text
    assert "k=ignore" in text
    # the click applied and the schedule shows the new block; the unfinished report got a repair card
    assert "apply: applied" in text
    after_apply = text.split("schedule after the click:")[1].split("===")[0]
    assert "block  物理实验报告" in after_apply
    # the simulated Feishu meeting (11:00-12:00) is planned around, and shown as untitled busy time
    assert "加入 物理实验报告 11:00" not in text
    assert "加入 物理实验报告 12:00–13:00" in text
    assert "11:00–12:00   fixed  忙碌" in after_apply
    assert "(simulated Feishu calendar: ou_alice is busy 11:00–12:00" in text  # labelled as simulated
    assert "补做 物理实验报告" in text
    assert "ignore: ignored" in text
    # undo removed the block again
    assert "undo: undone" in text
    after_undo = text.split("schedule after undo")[1]
    assert "物理实验报告" not in after_undo
    # the database lived in the directory given, nowhere else
    assert (tmp_path / "smartflow-demo.db").exists()


def test_smartflow_demo_command_ignores_the_configuration(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMARTFLOW_")}
    # a configured database or Feishu app must not be touched by the demo
    env["SMARTFLOW_FEISHU_APP_ID"] = "cli_should_not_be_used"
    env["SMARTFLOW_DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path / 'real.db'}"
    # nor does any other configuration reach it: values that would stop every other command are ignored
    env["SMARTFLOW_TIMEZONE"] = "Mars/Base"
    env["SMARTFLOW_GRID_MINUTES"] = "abc"
    env["SMARTFLOW_DAY_END"] = "07:00"
    env["SMARTFLOW_DATABSE_URL"] = "typo"
    (tmp_path / ".env").write_bytes(b"SMARTFLOW_LOCALE=\xff\n")
    proc = subprocess.run(
        [sys.executable, "-c", "from app.cli import main; main()", "demo"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "demo finished" in proc.stdout
    assert "Traceback" not in proc.stderr
    # a misspelled name is still pointed out, as by every command
    assert "warning: SMARTFLOW_DATABSE_URL (environment) is not a setting" in proc.stderr
    assert not (tmp_path / "real.db").exists()
