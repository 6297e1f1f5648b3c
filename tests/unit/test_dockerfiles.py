"""The Python images' essentials, each read as Compose builds it (the five services from one parametrised Dockerfile):
pinned bases and uv, dependencies layer then code layer, non-root runtime, health, command."""

import re
import subprocess
import tomllib
from importlib.metadata import version
from pathlib import Path

import pytest

from tests.dockerfile import (
    PORTS,
    ROOT,
    Image,
    Instruction,
    command_run,
    environment,
    health_request,
    image,
    instructions,
    logical_lines,
    stages,
)

pytestmark = pytest.mark.unit

SERVICES = sorted(set(PORTS) - {"frontend"})
SERVICE_DOCKERFILE = ROOT / "deploy" / "service.Dockerfile"
PINNED_PYTHON = re.compile(r"python:3\.11\.\d+-slim-(bookworm|trixie)@sha256:[0-9a-f]{64}")


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


@pytest.fixture
def built(service: str) -> Image:
    """The service's Dockerfile and build arguments, as deploy/docker-compose.yml builds its image."""
    return image(service)


def test_the_five_services_share_one_parametrised_dockerfile() -> None:
    for name in SERVICES:
        assert image(name) == Image(
            SERVICE_DOCKERFILE, {"SERVICE": name, "ENV_PREFIX": name.upper(), "PORT": str(PORTS[name])}
        ), name
    assert sorted(ROOT.glob("services/*/Dockerfile")) == [], "a service's own Dockerfile next to the shared one"
    assert image("frontend") == Image(ROOT / "frontend/Dockerfile", {}), "the dashboard has its own (no shared code)"
    # past the workspace's pyproject files, the shared Dockerfile names no service: the build args do
    text = " ".join(i.args for i in logical_lines(SERVICE_DOCKERFILE) if "pyproject.toml" not in i.args)
    assert [name for name in SERVICES if re.search(rf"\b{name}\b", text, re.IGNORECASE)] == []


def test_the_shared_dockerfile_refuses_a_build_without_a_service(tmp_path: Path) -> None:
    build = stages(Image(SERVICE_DOCKERFILE, {}))[0]
    guard = next(i.args for i in build if i.keyword == "RUN")
    assert "uv sync" not in guard, "the service is checked before anything is installed"
    done = subprocess.run(["/bin/sh", "-c", guard], cwd=tmp_path, capture_output=True, text=True, check=False)
    assert done.returncode != 0
    assert "--build-arg SERVICE=" in done.stderr


def test_every_base_image_is_pinned_by_tag_and_digest(service: str, built: Image) -> None:
    bases = [i.args.split()[0] for i in instructions(built) if i.keyword == "FROM"]
    assert len(bases) == 2, "a build stage and a runtime stage"
    for base in bases:
        assert PINNED_PYTHON.fullmatch(base), f"{service}: {base} is not a pinned python:3.11 slim image"
        assert "latest" not in base
    assert len(set(bases)) == 1, "build and runtime use the same base (the venv's interpreter path)"


def test_every_image_uses_the_same_base() -> None:
    bases = {next(i.args.split()[0] for i in instructions(image(name)) if i.keyword == "FROM") for name in PORTS}
    assert len(bases) == 1, bases


def test_uv_is_pinned_to_the_version_the_makefile_installs(built: Image) -> None:
    copies = [i.args for i in instructions(built) if i.keyword == "COPY" and "astral-sh/uv" in i.args]
    assert copies == [f"--from=ghcr.io/astral-sh/uv:{uv_version()} /uv /bin/uv"]


def test_dependencies_are_installed_before_the_code_is_copied(service: str, built: Image) -> None:
    build = stages(built)[0]
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
    code = "frontend/src" if service == "frontend" else f"services/{service}/src"
    assert f"{code} {code}" in after, f"{service}: its own code is not copied"


def test_runtime_stage_holds_only_the_virtual_environment_and_runs_as_a_user(service: str, built: Image) -> None:
    runtime = stages(built)[-1]
    copies = [i.args for i in runtime if i.keyword == "COPY"]
    assert copies == ["--from=build /app/.venv /app/.venv"]
    users = [i.args for i in runtime if i.keyword == "USER"]
    assert users, f"{service}: the runtime stage sets no USER"
    assert users[-1] not in {"root", "0", "0:0"}
    env = " ".join(i.args for i in runtime if i.keyword == "ENV")
    assert 'PATH="/app/.venv/bin:$PATH"' in env


def test_runtime_exposes_the_port_its_health_check_and_the_service_use(
    service: str, built: Image, tmp_path: Path
) -> None:
    runtime = stages(built)[-1]
    port = PORTS[service]
    assert [i.args for i in runtime if i.keyword == "EXPOSE"] == [str(port)]
    path = "/_stcore/health" if service == "frontend" else "/health"
    assert health_request(runtime, tmp_path) == (f"http://127.0.0.1:{port}{path}", 4)
    if service != "frontend":
        env = environment(runtime)
        assert env[f"{service.upper()}_HOST"] == "0.0.0.0"
        assert env[f"{service.upper()}_PORT"] == str(port)


def test_command_runs_the_installed_package(service: str, built: Image, tmp_path: Path) -> None:
    argv = command_run(stages(built)[-1], tmp_path)
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
    steps = logical_lines(ROOT / "deploy/mlflow/Dockerfile")
    assert steps[0] == Instruction("FROM", f"ghcr.io/mlflow/mlflow:v{version('mlflow')}")
    pip = next(i.args for i in steps if i.keyword == "RUN" and "pip install" in i.args)
    assert f"psycopg2-binary=={version('psycopg2-binary')}" in pip
    assert f"boto3=={version('boto3')}" in pip
    users = [i.args for i in steps if i.keyword == "USER"]
    assert users
    assert users[-1] not in {"root", "0"}
    assert any(i.keyword == "HEALTHCHECK" and "/health" in i.args for i in steps)
