"""The Docker side without a Docker engine: compose files validated by a real parser (docker-compose) for the
profile selections the Makefile makes, the Makefile's Docker targets, shellcheck on the scripts, and what
`.dockerignore` keeps out of the image. The Dockerfile's own commands are run by tests/test_gunicorn.py.

`.ci/run` installs docker-compose and shellcheck; without them these tests fail, they never skip.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.support.docker_context import dockerignore_patterns, is_ignored
from tests.support.paths import REPO_ROOT

ALL_SERVICES = {
    "database",
    "database-mysql",
    "api-python",
    "rabbitmq",
    "python-worker",
    "python-beat",
    "cloudpub",
    "frontend",
}
QUEUE_SERVICES = {"rabbitmq", "python-worker", "python-beat"}


def _tool(name: str) -> str:
    path = shutil.which(name)
    assert path, f"{name} is missing: .ci/run installs it (apt-get install {name})"
    return path


def _make(project: Path, *args: str, path: str | None = None) -> subprocess.CompletedProcess:
    """Run the project's Makefile in `project`, with an environment free of the settings it reads."""
    env = {"PATH": path or os.environ["PATH"], "HOME": str(project), "LANG": "C.UTF-8"}
    return subprocess.run(
        ["make", "-s", "-f", str(REPO_ROOT / "Makefile"), "-C", str(project), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def project(tmp_path):
    """A copy of the compose files; the test writes its own .env and maybe a frontend folder."""
    for name in ("docker-compose.yml", "docker-compose.override.yml", ".env.example"):
        shutil.copy(REPO_ROOT / name, tmp_path / name)
    return tmp_path


def _write_env(project: Path, **values: str) -> None:
    example = (REPO_ROOT / ".env.example").read_text()
    (project / ".env").write_text(example + "".join(f"{name}={value}\n" for name, value in values.items()))


def _profiles(project: Path) -> tuple[list[str], list[str], str]:
    result = _make(project, "print-profiles")
    assert result.returncode == 0, result.stderr
    selected = dict(re.findall(r"^(dev-python|prod-python): (.*)$", result.stdout, re.MULTILINE))
    return selected["dev-python"].split(), selected["prod-python"].split(), result.stdout


def _compose_configs(project: Path) -> tuple[dict, dict]:
    """docker-compose's merged configuration, as dev-python and as prod-python run it."""
    _tool("docker-compose")
    result = _make(project, "compose-config", "COMPOSE=docker-compose", "CONFIG_FLAGS=")
    assert result.returncode == 0, result.stderr
    dev, prod = result.stdout.split("\n---\n")
    return yaml.safe_load(dev), yaml.safe_load(prod)


def _active(config: dict, profiles: list[str]) -> set[str]:
    """The services compose starts with these profiles: those without profiles, and those with a selected one."""
    services = config["services"]
    return {name for name, s in services.items() if not s.get("profiles") or set(s["profiles"]) & set(profiles)}


# ---- the Makefile's profile selection ---------------------------------------------------------------------------


def test_dev_profiles_leave_out_what_is_missing(project):
    _write_env(project)

    dev, prod, output = _profiles(project)

    assert dev == ["postgresql", "python"]
    assert prod == ["postgresql", "python"]
    assert "Leaving out profile frontend: no folder ./frontend" in output
    assert "Leaving out profile cloudpub: CLOUDPUB_TOKEN is empty" in output
    assert "Leaving out profile queue" in output
    assert "Leaving out profile beat" in output


def test_dev_profiles_with_frontend_tunnel_queue_and_beat(project):
    (project / "frontend").mkdir()
    _write_env(project, CLOUDPUB_TOKEN="cp-token-123", ENABLE_RABBITMQ="1", TOKEN_REFRESH_ENABLED="1")

    dev, prod, output = _profiles(project)

    assert dev == ["postgresql", "frontend", "python", "cloudpub", "queue", "beat"]
    assert prod == ["postgresql", "python", "queue", "beat"]
    assert "Leaving out" not in output


@pytest.mark.parametrize(
    ("settings", "profiles"),
    [
        pytest.param({"ENABLE_RABBITMQ": "1"}, ["postgresql", "python", "queue"], id="queue-without-beat"),
        pytest.param({"TOKEN_REFRESH_ENABLED": "1"}, ["postgresql", "python"], id="beat-needs-the-queue"),
        pytest.param({"ENABLE_RABBITMQ": "yes"}, ["postgresql", "python", "queue"], id="on-as-config-reads-it"),
    ],
)
def test_queue_and_beat_profiles_follow_their_settings(project, settings, profiles):
    _write_env(project, **settings)

    dev, prod, output = _profiles(project)

    assert dev == prod == profiles
    assert "Leaving out profile beat: set TOKEN_REFRESH_ENABLED=1 (and ENABLE_RABBITMQ=1)" in output


def test_frontend_dir_from_env_file_names_the_folder(project, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("my-frontend")
    _write_env(project, FRONTEND_DIR=str(elsewhere))

    dev, _, _ = _profiles(project)
    config, _ = _compose_configs(project)

    assert "frontend" in dev
    assert config["services"]["frontend"]["build"]["context"] == str(elsewhere)


# ---- compose files, validated by docker-compose for each selection ----------------------------------------------


def test_compose_full_dev_stack(project):
    (project / "frontend").mkdir()
    _write_env(
        project,
        CLOUDPUB_TOKEN="cp-token-123",
        ENABLE_RABBITMQ="1",
        TOKEN_REFRESH_ENABLED="1",
        RABBITMQ_USER="rabbit-user",
    )
    dev_profiles, prod_profiles, _ = _profiles(project)

    dev, prod = _compose_configs(project)

    assert set(dev["services"]) == ALL_SERVICES
    assert _active(dev, dev_profiles) == ALL_SERVICES - {"database-mysql"}
    assert _active(prod, prod_profiles) == {"database", "api-python", *QUEUE_SERVICES}
    services = dev["services"]
    assert services["rabbitmq"]["profiles"] == ["queue"]
    assert "management" in services["rabbitmq"]["image"]
    assert services["rabbitmq"]["environment"]["RABBITMQ_DEFAULT_USER"] == "rabbit-user"
    assert "rabbitmq-diagnostics" in services["rabbitmq"]["healthcheck"]["test"]
    cloudpub = services["cloudpub"]
    assert cloudpub["profiles"] == ["cloudpub"]
    assert cloudpub["image"].startswith("cloudpub/cloudpub")
    assert cloudpub["environment"] == {"TOKEN": "cp-token-123", "HTTP": "api-python:8000"}
    assert cloudpub["command"] in ("run", ["run"])
    assert "cloudpub-config:/home/cloudpub:rw" in cloudpub["volumes"]
    frontend = services["frontend"]
    assert frontend["profiles"] == ["frontend"]
    assert frontend["build"]["context"] == str(project / "frontend")
    assert {"published": 3000, "target": 3000} in frontend["ports"]
    assert {"postgres-data", "rabbitmq-data", "cloudpub-config"} <= set(dev["volumes"])


def test_compose_backend_and_database_without_optional_parts(project):
    _write_env(project, DB_NAME="shop", DB_USER="shopuser", DB_PASSWORD="shoppass")
    dev_profiles, prod_profiles, _ = _profiles(project)

    dev, prod = _compose_configs(project)

    assert _active(dev, dev_profiles) == {"database", "api-python"}
    assert _active(prod, prod_profiles) == {"database", "api-python"}
    for config in (dev, prod):
        _assert_database_service(
            config["services"]["database"],
            profile="postgresql",
            image=r"postgres:(1[89]|[2-9]\d)(\..*)?",
            environment={"POSTGRES_DB": "shop", "POSTGRES_USER": "shopuser", "POSTGRES_PASSWORD": "shoppass"},
            health_check="pg_isready",
            # PostgreSQL 18+ images keep data below /var/lib/postgresql (a mount at .../data is refused).
            volume="postgres-data:/var/lib/postgresql:rw",
        )


def _assert_database_service(
    service: dict, *, profile: str, image: str, environment: dict, health_check: str, volume: str
) -> None:
    """A database service of the compose file: its profile, a current major of its image, the database and user it
    creates, its health check and its data volume; never published on the host."""
    assert service["profiles"] == [profile]
    assert re.fullmatch(image, service["image"])
    assert service["environment"] == environment
    assert health_check in " ".join(service["healthcheck"]["test"])
    assert service["volumes"] == [volume]
    assert "ports" not in service


def _backend_database(config: dict) -> dict[str, str]:
    """Where the compose file points api-python's database connection."""
    environment = config["services"]["api-python"]["environment"]
    return {name: environment[name] for name in ("DB_ENGINE", "DB_HOST", "DB_PORT")}


@pytest.mark.parametrize("engine", ["mysql", "sqlite"])
def test_db_engine_picks_the_database_service_and_points_the_backend_at_it(project, engine):
    credentials = {"DB_NAME": "shop", "DB_USER": "shopuser", "DB_PASSWORD": "shoppass", "DB_PORT": "5432"}
    _write_env(project, DB_ENGINE=engine, ENABLE_RABBITMQ="1", **credentials)
    dev_profiles, prod_profiles, _ = _profiles(project)

    dev, prod = _compose_configs(project)

    if engine == "sqlite":  # `make run`'s embedded database is no choice for Docker: PostgreSQL
        assert (dev_profiles, prod_profiles) == (["postgresql", "python", "queue"], ["postgresql", "python", "queue"])
        assert _active(prod, prod_profiles) == {"database", "api-python", "rabbitmq", "python-worker"}
        assert _backend_database(prod)["DB_ENGINE"] == "postgresql"
        return
    assert (dev_profiles, prod_profiles) == (["mysql", "python", "queue"], ["mysql", "python", "queue"])
    for config, profiles in ((dev, dev_profiles), (prod, prod_profiles)):
        assert _active(config, profiles) == {"database-mysql", "api-python", "rabbitmq", "python-worker"}
        # The service's port, not .env's; the Celery worker's database is the backend's.
        assert _backend_database(config) == {"DB_ENGINE": "mysql", "DB_HOST": "database-mysql", "DB_PORT": "3306"}
        worker = config["services"]["python-worker"]["environment"]
        assert {name: worker[name] for name in ("DB_ENGINE", "DB_HOST", "DB_PORT")} == _backend_database(config)
        database = config["services"]["database-mysql"]
        _assert_database_service(
            database,
            profile="mysql",
            image=r"mariadb:(1[1-9]|[2-9]\d)(\..*)?",
            environment={
                "MARIADB_DATABASE": "shop",
                "MARIADB_USER": "shopuser",
                "MARIADB_PASSWORD": "shoppass",
                "MARIADB_RANDOM_ROOT_PASSWORD": "1",
            },
            health_check="healthcheck.sh",
            volume="mysql-data:/var/lib/mysql:rw",
        )
        assert "--character-set-server=utf8mb4" in database["command"]
    assert {"postgres-data", "mysql-data"} <= set(dev["volumes"])


def test_compose_backend_dev_mounts_code_production_does_not(project):
    _write_env(project, JWT_SECRET="from-the-env-file-0123456789abcdef", DB_HOST="127.0.0.1")

    dev, prod = _compose_configs(project)

    for config, target in ((dev, "dev"), (prod, "production")):
        api = config["services"]["api-python"]
        assert api["profiles"] == ["python"]
        assert api["build"] == {"context": str(project), "target": target}
        assert api["environment"]["BUILD_TARGET"] == target
        # The compose service wins over .env's.
        assert _backend_database(config) == {"DB_ENGINE": "postgresql", "DB_HOST": "database", "DB_PORT": "5432"}
        assert api["environment"]["JWT_SECRET"] == "from-the-env-file-0123456789abcdef"  # env_file .env
        assert api["ports"] == ["127.0.0.1:8000:8000/tcp"]  # only the TLS proxy on this host reaches it
        assert api["environment"]["TRUSTED_PROXY_COUNT"] == "1"  # that proxy
        assert "depends_on" not in api  # the entrypoint waits for whichever database the profile started
    assert dev["services"]["api-python"]["volumes"] == [f"{project}:/app:rw"]
    assert "volumes" not in prod["services"]["api-python"]


def test_compose_celery_services_run_the_backend_image_after_rabbitmq_is_healthy(project):
    _write_env(project, ENABLE_RABBITMQ="1", TOKEN_REFRESH_ENABLED="1", DB_HOST="127.0.0.1")

    dev, prod = _compose_configs(project)

    for config, target in ((dev, "dev"), (prod, "production")):
        services = config["services"]
        api = services["api-python"]
        worker, beat = services["python-worker"], services["python-beat"]
        assert (worker["profiles"], beat["profiles"]) == (["queue"], ["beat"])
        for celery in (worker, beat):
            assert celery["build"] == api["build"] == {"context": str(project), "target": target}
            # .env, with the compose database; the address of the proxy in front concerns web requests only
            assert celery["environment"] == {k: v for k, v in api["environment"].items() if k != "TRUSTED_PROXY_COUNT"}
            assert celery["environment"]["DB_HOST"] == "database"
            assert celery["entrypoint"] == ["celery", "-A", "celery_app"]  # no second `migrate`
            assert celery["healthcheck"] == {"test": ["NONE"]}  # the image's asks a web server
            assert "ports" not in celery
        assert worker["command"] == ["worker"]
        assert beat["command"] == ["beat"]
        # The backend's health: its database (either service) is up and migrated.
        assert worker["depends_on"] == {
            "api-python": {"condition": "service_healthy"},
            "rabbitmq": {"condition": "service_healthy"},
        }
        assert beat["depends_on"] == {"rabbitmq": {"condition": "service_healthy"}}
    assert dev["services"]["python-worker"]["volumes"] == [f"{project}:/app:rw"]  # the API's code
    assert "volumes" not in prod["services"]["python-worker"]
    # A worker on this machine (`make worker`) and the management UI reach development's broker on loopback only;
    # production's is reached on compose's network alone.
    assert dev["services"]["rabbitmq"]["ports"] == ["127.0.0.1:5672:5672/tcp", "127.0.0.1:15672:15672/tcp"]
    assert "ports" not in prod["services"]["rabbitmq"]


def test_production_stack_publishes_nothing_beyond_this_hosts_loopback(project):
    (project / "frontend").mkdir()
    _write_env(project, CLOUDPUB_TOKEN="cp-token-123", ENABLE_RABBITMQ="1")
    _, prod_profiles, _ = _profiles(project)

    _, prod = _compose_configs(project)

    published = [port for name in _active(prod, prod_profiles) for port in prod["services"][name].get("ports", [])]
    assert published == ["127.0.0.1:8000:8000/tcp"]


def test_trusted_proxy_count_from_the_env_file_wins_over_the_stacks_default(project):
    _write_env(project, TRUSTED_PROXY_COUNT="2")

    dev, prod = _compose_configs(project)

    assert dev["services"]["api-python"]["environment"]["TRUSTED_PROXY_COUNT"] == "2"
    assert prod["services"]["api-python"]["environment"]["TRUSTED_PROXY_COUNT"] == "2"


def test_compose_config_creates_env_from_example(project):
    _tool("docker-compose")
    result = _make(project, "compose-config", "COMPOSE=docker-compose")

    assert result.returncode == 0, result.stderr
    assert "Created .env from .env.example" in result.stdout
    assert (project / ".env").read_text() == (REPO_ROOT / ".env.example").read_text()


# ---- the Makefile's Docker targets --------------------------------------------------------------------------------


def test_make_alone_prints_help():
    result = subprocess.run(["make", "-s", "-C", str(REPO_ROOT)], capture_output=True, text=True, env=_clean_env())

    assert result.returncode == 0
    targets = ("run", "worker", "beat", "test", "lint", "migrate", "superuser", "dev-python", "prod-python", "logs")
    for target in (*targets, "down", "clean"):
        assert re.search(rf"^  make {target} ", result.stdout, re.MULTILINE), target


def _clean_env() -> dict:
    return {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/"), "LANG": "C.UTF-8"}


def test_dev_and_prod_targets_run_compose_with_their_profiles(project):
    (project / "frontend").mkdir()
    _write_env(project, CLOUDPUB_TOKEN="cp-token-123")

    dev = _make(project, "-n", "dev-python", "COMPOSE=docker-compose").stdout
    prod = _make(project, "-n", "prod-python", "COMPOSE=docker-compose").stdout

    assert (
        "BUILD_TARGET=dev docker-compose -f docker-compose.yml -f docker-compose.override.yml "
        "--profile postgresql --profile frontend --profile python --profile cloudpub up --build" in dev
    )
    assert (
        "BUILD_TARGET=production docker-compose -f docker-compose.yml --profile postgresql --profile python "
        "up --build --detach" in prod
    )
    assert "cp-token-123" not in dev + prod


def test_dev_and_prod_targets_start_the_queue_when_it_is_enabled(project):
    _write_env(project, ENABLE_RABBITMQ="1")

    dev = _make(project, "-n", "dev-python", "COMPOSE=docker-compose").stdout
    prod = _make(project, "-n", "prod-python", "COMPOSE=docker-compose").stdout

    assert "--profile python --profile queue up --build" in dev
    assert "--profile python --profile queue up --build --detach" in prod


@pytest.mark.parametrize("target", ["dev-python", "prod-python", "logs", "down", "clean"])
def test_docker_targets_say_when_compose_is_missing(project, target):
    _write_env(project)

    result = _make(project, target, "COMPOSE=")

    assert result.returncode != 0
    assert "This target needs Docker Compose" in result.stderr


@pytest.mark.parametrize("target", ["dev-python", "prod-python", "logs", "down", "clean"])
def test_docker_targets_say_when_the_engine_is_unreachable(project, tmp_path_factory, target):
    # A `docker` whose engine does not answer, like `docker info` without a running daemon.
    fake_bin = tmp_path_factory.mktemp("bin")
    (fake_bin / "docker").write_text("#!/bin/sh\necho 'Cannot connect to the Docker daemon' >&2\nexit 1\n")
    (fake_bin / "docker").chmod(0o755)
    _write_env(project)

    result = _make(project, target, "COMPOSE=docker compose", path=f"{fake_bin}:{os.environ['PATH']}")

    assert result.returncode != 0
    assert "The Docker engine is not reachable" in result.stderr


# ---- scripts and image ----------------------------------------------------------------------------------------------


def test_shell_scripts_pass_shellcheck():
    scripts = [*sorted(str(p) for p in (REPO_ROOT / "docker").glob("*.sh")), str(REPO_ROOT / ".ci" / "run")]

    result = subprocess.run([_tool("shellcheck"), *scripts], capture_output=True, text=True)

    assert len(scripts) >= 4
    assert result.returncode == 0, result.stdout


def test_dockerignore_keeps_secrets_and_local_state_out():
    patterns = dockerignore_patterns()

    assert all("**" not in p or (p.startswith("**/") and "/" not in p[3:]) for p in patterns)  # the forms we read
    for kept_out in (
        ".env",
        ".env.production",
        ".venv/bin/python",
        "db.sqlite3",
        "main/__pycache__/x.pyc",
        ".git/HEAD",
        "bench/settings.py",
    ):
        assert is_ignored(kept_out, patterns), kept_out
    for needed in ("manage.py", "requirements.txt", "gunicorn.conf.py", "docker/entrypoint-prod.sh", "main/views.py"):
        assert not is_ignored(needed, patterns), needed
