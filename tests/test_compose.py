"""docker-compose.yml and the Dockerfile hold together (nothing here runs Docker): every service
a service waits for exists, the API waits for the pipeline job, the job generates through the
vllm service's own port, and every cosmo-kg variable the file sets is a real setting."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from cosmo_kg.cli import all_settings_groups

ROOT = Path(__file__).resolve().parent.parent
# Variables the images or libraries read, not cosmo-kg settings.
OTHER_VARIABLES = {"HF_HUB_OFFLINE", "VLLM_MODEL"}


def interpolate(value: Any) -> Any:
    """Compose's ``${NAME:-default}`` with nothing set in the environment: the default."""
    if isinstance(value, str):
        return re.sub(r"\$\{[A-Z0-9_]+:-([^}]*)\}", r"\1", value)
    return value


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def environment(service: dict[str, Any]) -> dict[str, str]:
    return {name: str(interpolate(value)) for name, value in service.get("environment", {}).items()}


def setting_variables() -> set[str]:
    return {f.metadata["env"] for group in all_settings_groups() for f, _ in group.fields()}


def test_every_service_a_service_waits_for_exists_and_the_api_waits_for_the_pipeline(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    for name, service in services.items():
        assert set(service.get("depends_on", {})) <= set(services), name
    api, pipeline = services["api"], services["pipeline"]
    assert api["depends_on"]["pipeline"]["condition"] == "service_completed_successfully"
    assert pipeline["restart"] == "no"
    for store in ("neo4j", "redis"):
        assert pipeline["depends_on"][store]["condition"] == "service_healthy"
        assert "healthcheck" in services[store]
    # vllm is in the gpu profile: without it the pipeline must still start.
    assert services["vllm"]["profiles"] == ["gpu"]
    assert pipeline["depends_on"]["vllm"] == {"condition": "service_healthy", "required": False}


def test_the_api_is_scaled_and_ready_only_with_an_index(compose: dict[str, Any]) -> None:
    api = compose["services"]["api"]
    env = environment(api)
    assert int(env["COSMO_API_WORKERS"]) >= 2
    assert env["REDIS_URL"].startswith("redis://redis:")  # the tier every worker shares
    port = api["command"][api["command"].index("--api-port") + 1]
    assert f"http://127.0.0.1:{port}/readyz" in " ".join(api["healthcheck"]["test"])
    assert env["COSMO_INDEX_DIR"] == environment(compose["services"]["pipeline"])["COSMO_INDEX_DIR"]
    assert set(api["volumes"]) == set(compose["services"]["pipeline"]["volumes"])


def test_the_pipeline_generates_through_the_vllm_service(compose: dict[str, Any]) -> None:
    services = compose["services"]
    env = environment(services["pipeline"])
    url = urlsplit(env["COSMO_OPENAI_BASE_URL"])
    vllm_command = [interpolate(part) for part in services["vllm"]["command"]]
    assert url.hostname == "vllm" and url.path == "/v1"
    assert str(url.port) == vllm_command[vllm_command.index("--port") + 1]
    assert f":{url.port}/health" in " ".join(services["vllm"]["healthcheck"]["test"])
    script = "\n".join(services["pipeline"]["command"])
    assert '"$$COSMO_GEN_BACKEND" = openai' in script and "cosmo-kg demo" in script
    assert env["VLLM_MODEL"] == vllm_command[vllm_command.index("--model") + 1]
    # Published for host-side runs on the openai backend's default port, not the API's 8000.
    assert services["vllm"]["ports"] == ["127.0.0.1:8001:8000"]


def test_every_cosmo_kg_variable_in_the_file_is_a_real_setting(compose: dict[str, Any]) -> None:
    known = setting_variables()
    used: set[str] = set()
    ours = [service for service in compose["services"].values() if "build" in service]  # cosmo-kg runs
    assert len(ours) == 2
    for service in ours:
        used |= set(service.get("environment", {}))
        used |= set(re.findall(r"\$\$([A-Z][A-Z0-9_]+)", "\n".join(map(str, service.get("command", [])))))
    assert used - OTHER_VARIABLES <= known, sorted(used - OTHER_VARIABLES - known)
    assert {"NEO4J_URI", "REDIS_URL", "COSMO_API_WORKERS", "COSMO_OPENAI_BASE_URL"} <= used


def test_every_volume_is_declared(compose: dict[str, Any]) -> None:
    for service in compose["services"].values():
        for volume in service.get("volumes", []):
            assert volume.split(":")[0] in compose["volumes"], volume


def test_the_image_copies_every_package_folder() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    folders = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    for folder in set(folders.values()):
        assert re.search(rf"^COPY {folder} {folder}$", dockerfile, re.MULTILINE), folder
