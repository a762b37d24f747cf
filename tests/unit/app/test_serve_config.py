"""`smartflow serve` refuses to receive Feishu events it cannot verify, naming the variables (status 2)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from app.cli import main


@pytest.mark.parametrize("mode", ["api", "all"])
def test_http_callbacks_without_a_verification_token_are_refused(mode: str) -> None:
    result = CliRunner().invoke(main, ["serve", "--mode", mode])
    assert result.exit_code == 2
    assert "SMARTFLOW_FEISHU_VERIFICATION_TOKEN" in result.output


def test_the_long_connection_needs_the_app_credentials() -> None:
    result = CliRunner().invoke(main, ["serve", "--feishu", "ws"], env={"SMARTFLOW_FEISHU_APP_ID": "cli_x"})
    assert result.exit_code == 2
    assert "SMARTFLOW_FEISHU_APP_SECRET" in result.output
