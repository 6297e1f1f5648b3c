"""The Dockerfiles' build stage replayed without Docker: the environment it produces runs the service.

For each image, only the files the build stage copies are copied into an empty folder, its ``uv sync`` steps run
with its ``ENV`` (the cache mount dropped, the environment in a temporary folder instead of ``/app/.venv``, no
bytecode compilation and hard links from the uv cache, which change speed, not content), and the
service's entry point is run from that environment alone. This catches what a real build would: a file the image
needs but the Dockerfile does not copy, a dependency a service imports but does not declare, a broken entry point.
"""

import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.dockerfile import PORTS, ROOT, exec_form, image, stages

pytestmark = pytest.mark.integration

SERVICES = tuple(PORTS)
VENV = "/app/.venv"
FAST = {"UV_COMPILE_BYTECODE": "0", "UV_LINK_MODE": "hardlink"}


def replay_build_stage(name: str, workdir: Path, venv: Path) -> None:
    """Run the build stage of ``name``'s image (its Dockerfile, its compose build arguments) in ``workdir``, its
    environment created at ``venv``."""
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root")}
    built = image(name)
    for keyword, args in ((i.keyword, i.args) for i in stages(built)[0]):  # the runtime stage only copies the venv
        if keyword == "ARG":  # a build argument is an environment variable of the stage's RUN steps
            arg, _, default = args.partition("=")
            env[arg] = built.args.get(arg, default)
        elif keyword == "ENV":
            for assignment in shlex.split(args):
                key, _, value = assignment.partition("=")
                env[key] = str(venv) if value == VENV else value
            env |= FAST  # same packages, less work: no bytecode compilation, hard links from the uv cache
        elif keyword == "COPY" and not args.startswith("--from"):
            *sources, destination = args.split()
            for source in sources:
                target = workdir / destination
                if destination.endswith("/"):  # into the folder, keeping the name
                    target = target / Path(source).name
                target.parent.mkdir(parents=True, exist_ok=True)
                if (ROOT / source).is_dir():
                    shutil.copytree(ROOT / source, target, ignore=shutil.ignore_patterns("__pycache__"))
                else:
                    shutil.copy2(ROOT / source, target)
        elif keyword == "RUN":
            command = re.sub(r"--mount=\S+\s*", "", args)
            done = subprocess.run(
                ["bash", "-c", command], cwd=workdir, env=env, capture_output=True, text=True, timeout=600, check=False
            )
            assert done.returncode == 0, f"{name}: `{command}` failed:\n{done.stderr[-3000:]}"


@pytest.mark.parametrize("name", SERVICES)
def test_build_stage_produces_an_environment_that_runs_the_service(name: str, tmp_path: Path) -> None:
    if shutil.which("uv") is None:
        pytest.skip("uv is not on PATH (make uv)")
    workdir, venv = tmp_path / "src", tmp_path / "venv"
    workdir.mkdir()
    replay_build_stage(name, workdir, venv)
    python = venv / "bin" / "python"
    clean = {"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path), "MPLCONFIGDIR": str(tmp_path / "mpl")}
    cmd = exec_form(stages(image(name))[-1], "CMD")
    if name == "frontend":
        app = Path(cmd[4].replace(f"{VENV}/", f"{venv}/"))
        assert app.is_file(), f"the CMD's script {cmd[4]} is not in the environment"
        check = ["-c", "import streamlit, credit_frontend.settings"]
    elif name == "gateway":
        check = ["-c", "import gateway_service.app, gateway_service.__main__"]
    else:  # a worker writes its AsyncAPI document from the code: it builds the whole application, connects nothing
        check = ["-m", f"{name}_service", "--asyncapi", str(tmp_path / "asyncapi.json")]
    done = subprocess.run(
        [str(python), *check], cwd=tmp_path, env=clean, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, f"{name}: {done.stderr[-3000:]}"
    # the code is installed into the environment (not linked to the build folder, which the image leaves behind)
    shutil.rmtree(workdir)
    package = "credit_frontend" if name == "frontend" else f"{name}_service"
    light = f"import {package}" + ("" if name == "frontend" else ", credit_shared.settings")
    again = subprocess.run(
        [str(python), "-c", light], cwd=tmp_path, env=clean, capture_output=True, text=True, timeout=120, check=False
    )
    assert again.returncode == 0, f"{name} needs the build folder at run time: {again.stderr[-3000:]}"
