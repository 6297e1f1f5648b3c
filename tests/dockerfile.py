"""The Python images as Compose builds them, read without Docker: each image's Dockerfile and build arguments, its
instructions with the arguments substituted where Docker substitutes them, its stages, and what the exec-form
commands of its runtime stage do once the container's environment is set.

Shared by the static checks (``tests/unit/test_dockerfiles.py``) and the replayed builds
(``tests/integration/test_dockerfiles_build.py``).
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "deploy" / "docker-compose.yml"
PORTS = {"ingestion": 8101, "training": 8102, "scoring": 8103, "monitoring": 8104, "gateway": 8000, "frontend": 8501}
# Docker substitutes no variable in these (exec form; a shell form's shell expands at run time)
NOT_SUBSTITUTED = {"CMD", "ENTRYPOINT", "HEALTHCHECK"}
VARIABLE = re.compile(r"\$(?:\{(\w+)\}|(\w+))")


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str


@dataclass(frozen=True)
class Image:
    """How Compose builds one image: its Dockerfile (from the repository root) and build arguments."""

    dockerfile: Path
    args: dict[str, str]


def image(name: str) -> Image:
    """The build of the compose service ``name`` (one of :data:`PORTS`)."""
    build = yaml.safe_load(COMPOSE_FILE.read_text())["services"][name]["build"]
    context = (COMPOSE_FILE.parent / build["context"]).resolve()
    assert context == ROOT, f"{name}: the build context is not the repository root"
    return Image(ROOT / build["dockerfile"], {k: str(v) for k, v in build.get("args", {}).items()})


def logical_lines(path: Path) -> list[Instruction]:
    """The instructions of a Dockerfile as written, continuation lines joined, comments dropped."""
    logical: list[str] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    assert not pending, f"{path}: a continuation line ends the file"
    out = []
    for line in logical:
        keyword, _, args = line.partition(" ")
        out.append(Instruction(keyword.upper(), " ".join(args.split())))
    return out


def instructions(built: Image) -> list[Instruction]:
    """The instructions with each stage's declared ``ARG`` substituted (an argument with no value is empty, as in
    Docker). ``RUN`` is substituted too: its shell sees the arguments as environment variables."""
    out: list[Instruction] = []
    declared: dict[str, str] = {}

    def value(match: re.Match[str]) -> str:
        return declared.get(match[1] or match[2], match[0])

    for written in logical_lines(built.dockerfile):
        if written.keyword == "FROM":
            declared.clear()  # an ARG's scope is the stage that declares it
        if written.keyword == "ARG":
            name, _, default = written.args.partition("=")
            declared[name] = built.args.get(name, default)
        substituted = written.keyword not in NOT_SUBSTITUTED | {"ARG"}
        out.append(Instruction(written.keyword, VARIABLE.sub(value, written.args)) if substituted else written)
    return out


def stages(built: Image) -> list[list[Instruction]]:
    """The build stages, each starting with its FROM."""
    result: list[list[Instruction]] = []
    for instruction in instructions(built):
        if instruction.keyword == "FROM":
            result.append([])
        assert result, f"{built.dockerfile}: an instruction before the first FROM"
        result[-1].append(instruction)
    return result


def environment(stage: list[Instruction]) -> dict[str, str]:
    """The variables the stage's ``ENV`` instructions set."""
    env: dict[str, str] = {}
    for instruction in stage:
        if instruction.keyword == "ENV":
            env |= dict(assignment.partition("=")[::2] for assignment in shlex.split(instruction.args))
    return env


def exec_form(stage: list[Instruction], keyword: str) -> list[str]:
    """The argv of the stage's only ``keyword`` instruction (``CMD`` or ``HEALTHCHECK``'s ``CMD``), in exec form."""
    found = [i.args for i in stage if i.keyword == keyword]
    assert len(found) == 1, f"{keyword}: {found}"
    text = found[0]
    if keyword == "HEALTHCHECK":
        text = text.split(" CMD ", 1)[1]
    argv: list[str] = json.loads(text)
    return argv


def _run_python_stub(argv: list[str], env: dict[str, str], stub: str, tmp_path: Path) -> str:
    """Run ``argv`` with ``python`` standing for ``stub`` (a Python prelude), in ``env`` alone; its output."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "stub.py").write_text(stub)
    launcher = bin_dir / "python"
    launcher.write_text(f'#!/bin/sh\nexec {sys.executable} {bin_dir / "stub.py"} "$@"\n')
    launcher.chmod(0o755)
    clean = {**env, "PATH": f"{bin_dir}:/usr/bin:/bin"}
    done = subprocess.run(argv, env=clean, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


ECHO_ARGV = "import json, sys\nprint(json.dumps(['python', *sys.argv[1:]]))\n"
FAKE_URLOPEN = """import json, sys, types, urllib
fake = types.ModuleType("urllib.request")
fake.urlopen = lambda url, timeout: print(json.dumps([url, timeout]))
sys.modules["urllib.request"] = urllib.request = fake
assert sys.argv[1] == "-c", sys.argv
exec(sys.argv[2])
"""


def command_run(stage: list[Instruction], tmp_path: Path) -> list[str]:
    """The argv of the python process the container's ``CMD`` starts, given the runtime stage's environment. A
    shell in between must ``exec`` it, so that the service, not the shell, gets the stop signal."""
    argv = exec_form(stage, "CMD")
    if argv[:2] == ["/bin/sh", "-c"]:
        assert argv[2].startswith("exec "), "the shell must hand over to python (exec)"
    run: list[str] = json.loads(_run_python_stub(argv, environment(stage), ECHO_ARGV, tmp_path))
    return run


def health_request(stage: list[Instruction], tmp_path: Path) -> tuple[str, float]:
    """The URL and timeout the health check's python asks, given the runtime stage's environment."""
    argv = exec_form(stage, "HEALTHCHECK")
    assert argv[:2] == ["python", "-c"], "python itself checks health: the slim image has no curl"
    assert "urllib.request" in argv[2]
    url, timeout = json.loads(_run_python_stub(argv, environment(stage), FAKE_URLOPEN, tmp_path))
    return str(url), float(timeout)
