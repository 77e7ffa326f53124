"""``dockyard config check`` / ``dockyard config schema``."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import pytest

from dockyard.cli import config_cmd


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("REGISTRY_"):
            monkeypatch.delenv(name)


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="dockyard")
    config_cmd.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    result: int = args.handler(args)
    return result


def test_check_ok(example_config: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["config", "check", "--config", example_config]) == 0
    assert capsys.readouterr().out == f"ok: {example_config}\n"


def test_check_without_file_uses_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["config", "check"]) == 0
    assert capsys.readouterr().out.startswith("ok: ")


def test_check_reports_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "config.yml"
    path.write_text("http:\n  adress: ':5000'\n")
    assert run(["config", "check", "--config", str(path)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == "config: unknown key http.adress\n"


def test_check_reads_the_environment(
    example_config: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("REGISTRY_LOG_LEVEL", "loud")
    assert run(["config", "check", "--config", example_config]) == 1
    assert capsys.readouterr().err.startswith("config: REGISTRY_LOG_LEVEL: log.level: ")


def test_schema_prints_indented_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["config", "schema"]) == 0
    out = capsys.readouterr().out
    assert "\n  " in out
    assert "StorageSettings" in json.loads(out)["$defs"]
