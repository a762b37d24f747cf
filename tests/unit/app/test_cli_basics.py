"""Small promises of the command line: --version, and a reader that stops early is not an error."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest
from click.testing import CliRunner

from app.cli import main


def test_version_is_printed() -> None:
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"smartflow {version('smartflow')}"


def test_demo_into_a_pipe_closed_early_exits_0(tmp_path: Path) -> None:
    exe = shutil.which("smartflow", path=str(Path(sys.executable).parent))
    if exe is None:
        pytest.skip("the smartflow script is not installed next to this interpreter")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMARTFLOW_")}
    proc = subprocess.Popen(
        [exe, "demo"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path, env=env
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()  # like `smartflow demo | head -1`
    proc.stdout.close()
    _, err = proc.communicate(timeout=120)
    assert first.strip() == b"" or first.startswith(b"===")  # the first line of the demo
    assert proc.returncode == 0, err.decode(errors="replace")[-2000:]
