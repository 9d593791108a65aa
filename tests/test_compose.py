"""The production stack on paper: docker-compose.yml and the Dockerfile, checked as far as
a machine without a container engine can (see "Running in production" in the README)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from docstate.cli import build_parser

ROOT = Path(__file__).parent.parent
COMPOSE = ROOT / "docker-compose.yml"
ONE_SHOTS = {"migrate", "minio-bucket"}


@pytest.fixture(scope="module")
def stack() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


def compose(*args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("docker-compose")
    assert binary, "docker-compose is missing: scripts/test installs it (scripts/compose-check)"
    return subprocess.run(
        [binary, "--project-directory", str(ROOT), "-f", str(COMPOSE), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_file_is_valid_with_the_example_settings() -> None:
    result = compose("--env-file", str(ROOT / ".env.example"), "config", "--quiet")
    assert result.returncode == 0, result.stderr


def test_a_missing_secret_refuses_the_stack(tmp_path: Path) -> None:
    empty = tmp_path / "empty.env"
    empty.write_text("")
    result = compose("--env-file", str(empty), "config", "--quiet")
    assert result.returncode != 0
    assert "set it in .env" in result.stderr


def test_every_service_the_readme_names_exists(stack: dict[str, Any]) -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### The docker-compose stack", 1)[1].split("\n## ", 1)[0]
    named = set(re.findall(r"^\| `([a-z-]+)` \|", section, flags=re.M))
    assert named == set(stack["services"])


def test_application_services_run_real_docstate_commands(stack: dict[str, Any]) -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["docstate"]' in dockerfile
    assert 'docstate = "docstate.cli:main"' in (ROOT / "pyproject.toml").read_text()
    parser = build_parser()
    app = {name: s for name, s in stack["services"].items() if s.get("image") == "docstate:latest"}
    assert set(app) == {"migrate", "worker", "api"}
    commands = [s["command"] for s in app.values()]
    probes = [s["healthcheck"].get("test", []) for s in app.values()]
    commands += [probe[2:] for probe in probes if probe[1:2] == ["docstate"]]
    for command in commands:
        parser.parse_args(command)  # exits (fails the test) on an unknown command or flag


def test_the_image_installs_the_tested_package_set() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "COPY pyproject.toml README.md constraints.txt ./" in dockerfile
    assert "RUN pip install -c constraints.txt ." in dockerfile
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[canonicalize_name(name)] = version
    pyproject = (ROOT / "pyproject.toml").read_text()
    dependencies = pyproject.split("dependencies = [", 1)[1].split("]", 1)[0]
    for spec in re.findall(r'"([^"]+)"', dependencies):
        requirement = Requirement(spec)
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} is not pinned in constraints.txt (run scripts/lock)"
        assert requirement.specifier.contains(pins[name]), (name, pins[name])


def test_health_order_secrets_and_volumes(stack: dict[str, Any]) -> None:
    services = stack["services"]
    for name, service in services.items():
        if name in ONE_SHOTS:
            assert service["restart"] == "no", name
        else:
            assert service["healthcheck"]["test"], f"{name} has no healthcheck"
        for needed, condition in (service.get("depends_on") or {}).items():
            expected = (
                "service_completed_successfully" if needed in ONE_SHOTS else "service_healthy"
            )
            assert condition == {"condition": expected}, (name, needed)
    text = COMPOSE.read_text()
    for secret in ("POSTGRES_PASSWORD", "DOCSTATE_DB_PASSWORD", "MINIO_ROOT_PASSWORD"):
        uses = re.findall(rf"{secret}\}}|\${{{secret}[^}}]*\}}", text)
        assert uses and all(":?" in use for use in uses), secret
        assert not re.search(rf"{secret}: (?!\$)", text), f"{secret} is written literally"
    assert set(stack["volumes"]) == {"postgresql-data", "minio-data"}
    assert ".env" in (ROOT / ".gitignore").read_text().split()


def test_prometheus_scrapes_every_job_the_alerts_name(stack: dict[str, Any]) -> None:
    scrape = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    assert scrape["rule_files"] == ["alerts.yml"]
    jobs = {job["job_name"]: job for job in scrape["scrape_configs"]}
    alerts = (ROOT / "deploy/prometheus/alerts.yml").read_text()
    assert set(re.findall(r'job="([a-z-]+)"', alerts)) == set(jobs)
    services = stack["services"]
    ports = {"docstate-worker": "DOCSTATE_METRICS_PORT", "docstate-api": "--port"}
    for name, job in jobs.items():
        (target,) = job["dns_sd_configs"]
        (service,) = target["names"]
        settings = services[service].get("environment", {})
        command = services[service]["command"]
        wanted = ports[name]
        port = settings.get(wanted) or command[command.index(wanted) + 1]
        assert int(port) == target["port"], (name, port)
