"""deploy/: the systemd units, the Dockerfile and the compose file run `smartflow` commands that exist, with
options that parse, and the image installs exactly as the README says."""

from __future__ import annotations

import configparser
import re
import shlex
from pathlib import Path

import click
import yaml

from app.cli import main

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


def parses(args: list[str]) -> click.Command:
    """The `smartflow` subcommand `args` names, its options parsed (a typo raises a click error)."""
    command: click.Command = main
    rest = list(args)
    name = "smartflow"
    while isinstance(command, click.Group):
        name, *rest = rest
        found = command.get_command(click.Context(command), name)
        assert found is not None, args
        command = found
    command.make_context(name, rest)
    return command


def unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string((DEPLOY / name).read_text(encoding="utf-8"))
    return parser


def test_systemd_units_run_the_api_and_the_worker() -> None:
    for name, mode in (("smartflow-api.service", "api"), ("smartflow-worker.service", "worker")):
        service = unit(name)["Service"]
        argv = shlex.split(service["ExecStart"])
        assert argv[0].endswith("/.venv/bin/smartflow")
        assert argv[1:4] == ["serve", "--mode", mode]
        parses(argv[1:])
        assert service["KillSignal"] == "SIGTERM"
        assert service["EnvironmentFile"] == "/etc/smartflow/smartflow.env"


def readme_install() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    first = re.search(r"```bash\n(.+?)\n```", readme, re.DOTALL)
    assert first is not None
    return first.group(1).removesuffix(" && smartflow demo")


def test_the_image_installs_as_the_readme_says() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    runs = [line.removeprefix("RUN ") for line in dockerfile.splitlines() if line.startswith("RUN ")]
    assert readme_install() == "python3 -m venv .venv && . .venv/bin/activate && pip install -q -e ."
    assert readme_install() in runs
    entry = re.search(r"^ENTRYPOINT (\[.+\])$", dockerfile, re.MULTILINE)
    cmd = re.search(r"^CMD (\[.+\])$", dockerfile, re.MULTILINE)
    assert entry is not None
    assert yaml.safe_load(entry.group(1)) == ["smartflow"]
    assert cmd is not None
    parses(yaml.safe_load(cmd.group(1)))


def test_compose_runs_mariadb_utf8mb4_an_upgrade_the_api_and_a_worker() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
    services = compose["services"]
    assert set(services) == {"mariadb", "migrate", "api", "worker"}
    assert "--character-set-server=utf8mb4" in services["mariadb"]["command"]
    assert services["migrate"]["command"] == ["db", "upgrade"]
    assert services["api"]["command"][:3] == ["serve", "--mode", "api"]
    assert services["worker"]["command"] == ["serve", "--mode", "worker"]
    for name in ("migrate", "api", "worker"):
        parses(services[name]["command"])
        url = services[name]["environment"]["SMARTFLOW_DATABASE_URL"]
        assert url.startswith("mysql+aiomysql://")
        assert url.endswith("@mariadb:3306/smartflow")
    for name in ("api", "worker"):
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


def test_a_mistyped_option_would_be_caught() -> None:
    try:
        parses(["serve", "--mode", "apii"])
    except click.UsageError:
        return
    raise AssertionError("a bad --mode parsed")
