"""The Dockerfiles' essentials: pinned bases and uv, dependencies layer then code layer, non-root runtime, health."""

import json
import re
import tomllib
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
PORTS = {"ingestion": 8101, "training": 8102, "scoring": 8103, "monitoring": 8104, "gateway": 8000, "frontend": 8501}
DOCKERFILES = {name: ROOT / ("frontend" if name == "frontend" else f"services/{name}") / "Dockerfile" for name in PORTS}
PINNED_PYTHON = re.compile(r"python:3\.11\.\d+-slim-(bookworm|trixie)@sha256:[0-9a-f]{64}")


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str


def instructions(path: Path) -> list[Instruction]:
    """The instructions of a Dockerfile, continuation lines joined, comments dropped."""
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


def stages(path: Path) -> list[list[Instruction]]:
    """The build stages, each starting with its FROM."""
    result: list[list[Instruction]] = []
    for instruction in instructions(path):
        if instruction.keyword == "FROM":
            result.append([])
        assert result, f"{path}: an instruction before the first FROM"
        result[-1].append(instruction)
    return result


def workspace_members() -> list[str]:
    members = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["uv"]["workspace"]["members"]
    found = []
    for pattern in members:
        found += [str(p.parent.relative_to(ROOT)) for p in sorted(ROOT.glob(f"{pattern}/pyproject.toml"))]
    return found


def uv_version() -> str:
    match = re.search(r"^UV_VERSION := (\S+)$", (ROOT / "Makefile").read_text(), re.MULTILINE)
    assert match, "the Makefile pins no UV_VERSION"
    return match[1]


@pytest.fixture(params=sorted(PORTS))
def service(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_every_base_image_is_pinned_by_tag_and_digest(service: str) -> None:
    bases = [i.args.split()[0] for i in instructions(DOCKERFILES[service]) if i.keyword == "FROM"]
    assert len(bases) == 2, "a build stage and a runtime stage"
    for base in bases:
        assert PINNED_PYTHON.fullmatch(base), f"{service}: {base} is not a pinned python:3.11 slim image"
        assert "latest" not in base
    assert len(set(bases)) == 1, "build and runtime use the same base (the venv's interpreter path)"


def test_every_image_uses_the_same_base() -> None:
    bases = {next(i.args.split()[0] for i in instructions(p) if i.keyword == "FROM") for p in DOCKERFILES.values()}
    assert len(bases) == 1, bases


def test_uv_is_pinned_to_the_version_the_makefile_installs(service: str) -> None:
    copies = [i.args for i in instructions(DOCKERFILES[service]) if i.keyword == "COPY" and "astral-sh/uv" in i.args]
    assert copies == [f"--from=ghcr.io/astral-sh/uv:{uv_version()} /uv /bin/uv"]


def test_dependencies_are_installed_before_the_code_is_copied(service: str) -> None:
    build = stages(DOCKERFILES[service])[0]
    package = f"credit-{service}"
    syncs = [n for n, i in enumerate(build) if i.keyword == "RUN" and "uv sync" in i.args]
    assert len(syncs) == 2, "one sync for the dependencies, one for our code"
    first, second = build[syncs[0]].args, build[syncs[1]].args
    for run in (first, second):
        assert "--mount=type=cache,target=/root/.cache/uv" in run
        assert "--frozen" in run
        assert f"--package {package}" in run
        assert "--no-dev" in run
    assert "--no-install-workspace" in first
    assert "--no-editable" in second
    before = [i.args.split()[:-1] for i in build[: syncs[0]] if i.keyword == "COPY" and "--from" not in i.args]
    copied_first = {src for sources in before for src in sources}
    expected = {"uv.lock", "pyproject.toml"} | {f"{m}/pyproject.toml" for m in workspace_members()}
    assert copied_first == expected, "only the lockfile and every member's pyproject.toml before the first sync"
    after = [i.args for i in build[syncs[0] + 1 : syncs[1]] if i.keyword == "COPY"]
    assert after, "the code is copied between the two syncs"
    assert all(re.fullmatch(r"(\S+)/src \1/src", a) for a in after), after


def test_runtime_stage_holds_only_the_virtual_environment_and_runs_as_a_user(service: str) -> None:
    runtime = stages(DOCKERFILES[service])[-1]
    copies = [i.args for i in runtime if i.keyword == "COPY"]
    assert copies == ["--from=build /app/.venv /app/.venv"]
    users = [i.args for i in runtime if i.keyword == "USER"]
    assert users, f"{service}: the runtime stage sets no USER"
    assert users[-1] not in {"root", "0", "0:0"}
    env = " ".join(i.args for i in runtime if i.keyword == "ENV")
    assert 'PATH="/app/.venv/bin:$PATH"' in env


def test_runtime_exposes_the_port_its_health_check_and_the_service_use(service: str) -> None:
    runtime = stages(DOCKERFILES[service])[-1]
    port = PORTS[service]
    assert [i.args for i in runtime if i.keyword == "EXPOSE"] == [str(port)]
    health = [i.args for i in runtime if i.keyword == "HEALTHCHECK"]
    assert len(health) == 1
    path = "/_stcore/health" if service == "frontend" else "/health"
    assert f"http://127.0.0.1:{port}{path}" in health[0]
    assert "urllib.request" in health[0], "python itself checks health: the slim image has no curl"
    if service != "frontend":
        env = " ".join(i.args for i in runtime if i.keyword == "ENV")
        assert f"{service.upper()}_HOST=0.0.0.0" in env
        assert f"{service.upper()}_PORT={port}" in env


def test_command_runs_the_installed_package(service: str) -> None:
    runtime = stages(DOCKERFILES[service])[-1]
    cmd = [i.args for i in runtime if i.keyword == "CMD"]
    assert len(cmd) == 1
    argv = json.loads(cmd[0])
    if service == "frontend":
        assert argv[:4] == ["python", "-m", "streamlit", "run"]
        app = argv[4]
        assert app == "/app/.venv/lib/python3.11/site-packages/credit_frontend/app.py"
        assert (ROOT / "frontend/src/credit_frontend/app.py").is_file()
        assert argv[argv.index("--server.address") + 1] == "0.0.0.0"
        assert argv[argv.index("--server.port") + 1] == "8501"
    else:
        assert argv == ["python", "-m", f"{service}_service"]
        assert (ROOT / f"services/{service}/src/{service}_service/__main__.py").is_file()


def test_dockerignore_keeps_state_data_caches_and_history_out_of_the_context() -> None:
    patterns = {
        line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines() if line and not line.startswith("#")
    }
    required = {".git", ".credit", "**/.venv", "**/__pycache__", "**/.pytest_cache", "**/.mypy_cache"}
    assert required <= patterns
    assert {".env", "data", "bench/results"} <= patterns
    for needed in ("uv.lock", "pyproject.toml", "shared", "services", "frontend", "deploy"):
        assert needed not in patterns, f"{needed} is needed by the builds"


def test_mlflow_image_is_the_installed_mlflow_with_pinned_drivers_as_a_user() -> None:
    steps = instructions(ROOT / "deploy/mlflow/Dockerfile")
    assert steps[0] == Instruction("FROM", f"ghcr.io/mlflow/mlflow:v{version('mlflow')}")
    pip = next(i.args for i in steps if i.keyword == "RUN" and "pip install" in i.args)
    assert f"psycopg2-binary=={version('psycopg2-binary')}" in pip
    assert f"boto3=={version('boto3')}" in pip
    users = [i.args for i in steps if i.keyword == "USER"]
    assert users
    assert users[-1] not in {"root", "0"}
    assert any(i.keyword == "HEALTHCHECK" and "/health" in i.args for i in steps)
