"""dockyard as a package: the wheel and sdist build (pypa/build), the wheel installs into a
clean virtual environment with the pinned dependencies, and the installed ``dockyard`` runs
(version, config check, a registry answering on loopback) without the optional backends, and
names the extra a configuration needs; shell completion for bash and zsh."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tarfile
import time
import venv
import zipfile
from pathlib import Path

import httpx
import pytest

from dockyard.cli.main import build_parser
from support.server import free_port

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "dockyard"


def _run(*args: str | Path, cwd: Path | None = None, **kwargs: object) -> str:
    done = subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True,
                          timeout=600, check=False, **kwargs)  # type: ignore[call-overload]  # fmt: skip
    assert done.returncode == 0, f"{args}: {done.stdout}\n{done.stderr}"
    return str(done.stdout)


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sdist and the wheel, built from a copy of the tracked files (as a release would)."""
    work = tmp_path_factory.mktemp("packaging")
    source = work / "source"
    tracked = _run("git", "ls-files", "-z", cwd=ROOT).split("\0")
    for name in filter(None, tracked):
        if (ROOT / name).is_file():  # a file deleted in the work tree is not shipped
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    out = work / "dist"
    _run(sys.executable, "-m", "build", "--sdist", "--wheel", "--outdir", out, source)
    return out


def _package_files() -> set[str]:
    """Every file of the dockyard package in the work tree, as a path inside the wheel."""
    tracked = _run("git", "ls-files", "src/dockyard", cwd=ROOT).split()
    return {name.removeprefix("src/") for name in tracked if (ROOT / name).is_file()}


@pytest.mark.slow
def test_the_wheel_and_sdist_hold_the_whole_package(dist: Path) -> None:
    wheel = next(dist.glob("dockyard-*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
        assert "dockyard = dockyard.cli.main:entry" in archive.read(entry_points).decode()
    missing = _package_files() - names
    assert not missing, f"not in the wheel (package data?): {sorted(missing)[:10]}"
    sdist = next(dist.glob("dockyard-*.tar.gz"))
    with tarfile.open(sdist) as archive:
        top = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    assert {"pyproject.toml", "README.md", "src/dockyard/__init__.py"} <= top
    assert {f"src/{name}" for name in _package_files()} <= top


@pytest.mark.slow
def test_the_wheel_installs_and_runs_in_a_clean_environment(dist: Path, tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    wheel = next(dist.glob("dockyard-*.whl"))
    _run(python, "-m", "pip", "install", "-q", "--disable-pip-version-check",
         "-c", ROOT / "constraints.txt", wheel)  # fmt: skip
    dockyard = env_dir / "bin" / "dockyard"
    assert _run(dockyard, "--version").strip().startswith("dockyard ")
    config = tmp_path / "config.yml"
    port = free_port()
    data = tmp_path / "data"
    config.write_text(f"version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {data}\n"
                      f"http:\n  addr: 127.0.0.1:{port}\n")  # fmt: skip
    assert "ok" in _run(dockyard, "config", "check", "--config", config).lower()
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    log = (tmp_path / "serve.log").open("wb")
    server = subprocess.Popen([dockyard, "serve", "--config", str(config)], cwd=tmp_path,
                              env=env, stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        answered = _answers(f"http://127.0.0.1:{port}/v2/", server)
        assert answered, (tmp_path / "serve.log").read_text()
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
    assert server.returncode == 0
    # no extras: the optional backends are not installed, and asking for one says which extra
    for module in ("psycopg", "botocore", "obstore", "redis", "ldap3"):
        probe = subprocess.run([str(python), "-c", f"import {module}"], capture_output=True,
                               check=False)  # fmt: skip
        assert probe.returncode != 0, f"{module} came with the bare wheel"
    postgres = {**env, "REGISTRY_DOCKYARD_DATABASE": "postgresql://u:p@127.0.0.1:1/db"}
    refused = subprocess.run([dockyard, "serve", "--config", str(config)], cwd=tmp_path,
                             env=postgres, capture_output=True, text=True, timeout=60,
                             check=False)  # fmt: skip
    assert refused.returncode != 0
    assert "pip install 'dockyard[postgres]'" in refused.stderr.strip().splitlines()[-1]
    assert "Traceback" not in refused.stderr


def _answers(url: str, server: subprocess.Popen[bytes]) -> bool:
    for _ in range(600):
        if server.poll() is not None:
            return False
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return True
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    return False


def _dockyard() -> str:
    return str(Path(sys.executable).with_name("dockyard"))


def test_bash_completion_completes_commands_and_options(tmp_path: Path) -> None:
    script = tmp_path / "dockyard.bash"
    script.write_text(_run(_dockyard(), "completion", "bash"))

    def complete(*words: str) -> set[str]:
        line = " ".join(words)
        program = (
            f"source {script}; COMP_WORDS=({line}); COMP_CWORD={len(words) - 1}; "
            f'COMP_LINE="{line}"; COMP_POINT=${{#COMP_LINE}}; '
            f'_shtab_dockyard dockyard "{words[-1]}" "{words[-2]}"; echo "${{COMPREPLY[@]}}"'
        )
        return set(_run("bash", "-c", program).split())

    assert {"gc", "group", "garbage-collect"} <= complete("dockyard", "g")
    assert {"--grace", "--dry-run", "--delete-untagged"} <= complete("dockyard", "gc", "--")
    assert "completion" in complete("dockyard", "comp")


def test_zsh_completion_is_valid_zsh_naming_every_command(tmp_path: Path) -> None:
    zsh = shutil.which("zsh")
    assert zsh, "zsh is missing: scripts/bootstrap --test installs it"
    script = tmp_path / "_dockyard"
    text = _run(_dockyard(), "completion", "zsh")
    script.write_text(text)
    _run(zsh, "-n", script)  # parses
    assert set(_top_level_commands()) >= {"serve", "gc", "webhook", "worker", "completion"}
    for command in _top_level_commands():  # every command, including those registered last
        assert f"\n    {command}:'" in text, command


def _top_level_commands() -> list[str]:
    parser = build_parser()
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return [name for action in actions for name in action.choices]
