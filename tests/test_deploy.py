"""deploy/ must parse and agree with the code: image names and versions, ports, environment."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

import yaml

from orchestrator.cli.app import app
from orchestrator.config import ENV_OVERRIDES, Endpoints, WebSettings, load_config

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
PYPROJECT = tomllib.loads((DEPLOY.parent / "pyproject.toml").read_text())
VERSION = PYPROJECT["project"]["version"]
IMAGE = f"autoops:{VERSION}"


def pinned(name: str) -> str:
    for dep in PYPROJECT["project"]["dependencies"]:
        if dep.startswith(f"{name}=="):
            return dep.split("==")[1]
    raise AssertionError(f"{name} is not pinned in pyproject.toml")


def docs(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def env_names(containers: list[dict]) -> set[str]:
    return {e["name"] for c in containers for e in c.get("env", [])}


KNOWN_ENV = set(ENV_OVERRIDES) | {Endpoints().callback_secret_env}


def test_dockerfile_builds_on_the_pinned_ray_and_runs_the_cli() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    assert f"FROM rayproject/ray:{pinned('ray')}-py311" in text
    assert metadata.version("ray") == pinned("ray")
    cmd = re.search(r'CMD \["autoops", "run", "--config", "([^"]+)"\]', text)
    assert cmd is not None and "run" in {c.name or c.callback.__name__ for c in app.registered_commands}
    copied = re.search(r"COPY (\S+) " + re.escape(cmd.group(1)), text)
    assert copied is not None and load_config(DEPLOY.parent / copied.group(1)).site
    assert f"EXPOSE {WebSettings().port}" in text
    for var in re.findall(r"(AUTOOPS_[A-Z_]+)=", text):
        assert var in KNOWN_ENV, var


def test_compose_agrees_with_the_code() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert {"temporal", "temporal-ui", "postgresql", "ray-head", "ray-worker", "orchestrator",
            "otel-collector", "jaeger"} <= set(services)
    for name in ("ray-head", "ray-worker", "orchestrator"):
        assert services[name]["image"] == IMAGE
    orch = services["orchestrator"]
    env = orch["environment"]
    assert set(k for k in env if k.startswith("AUTOOPS_")) <= KNOWN_ENV
    port = int(env["AUTOOPS_WEB_PORT"])
    assert orch["ports"] == [f"127.0.0.1:{port}:{port}"]  # published on loopback only
    assert env["AUTOOPS_TEMPORAL_ADDRESS"] == "temporal:7233"
    assert env["AUTOOPS_RAY_ADDRESS"].startswith("ray://ray-head:")
    assert "--ray-client-server-port=" + env["AUTOOPS_RAY_ADDRESS"].rsplit(":", 1)[1] in services["ray-head"]["command"]
    for svc in services.values():
        for published in svc.get("ports", []):
            assert published.startswith("127.0.0.1:"), published
    collector = yaml.safe_load((DEPLOY / "otel-collector.yaml").read_text())
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"].endswith(collector["receivers"]["otlp"]["protocols"]["http"]["endpoint"].split(":")[1])


def test_kubernetes_manifests_agree_with_the_code() -> None:
    (cluster,) = docs(DEPLOY / "k8s" / "raycluster.yaml")
    assert cluster["kind"] == "RayCluster" and cluster["spec"]["rayVersion"] == pinned("ray")
    head = cluster["spec"]["headGroupSpec"]
    assert head["template"]["spec"]["containers"][0]["image"] == IMAGE
    client_port = head["rayStartParams"]["ray-client-server-port"]

    manifests = {d["kind"]: d for d in docs(DEPLOY / "k8s" / "orchestrator.yaml")}
    assert set(manifests) == {"ConfigMap", "Deployment", "Service"}
    plant = tomllib.loads(manifests["ConfigMap"]["data"]["plant.toml"])
    from orchestrator.config import parse_config

    assert parse_config(plant).site
    containers = manifests["Deployment"]["spec"]["template"]["spec"]["containers"]
    assert containers[0]["image"] == IMAGE
    assert {n for n in env_names(containers) if n.startswith("AUTOOPS_")} <= KNOWN_ENV
    env = {e["name"]: e.get("value") for e in containers[0]["env"]}
    assert env["AUTOOPS_RAY_ADDRESS"].endswith(f":{client_port}")
    port = int(env["AUTOOPS_WEB_PORT"])
    assert containers[0]["ports"][0]["containerPort"] == port
    assert manifests["Service"]["spec"]["ports"][0]["targetPort"] == "web"

    values = yaml.safe_load((DEPLOY / "k8s" / "temporal-values.yaml").read_text())
    assert values["server"]["config"]["persistence"]["default"]["sql"]["driver"] == "postgres12"
    assert env["AUTOOPS_TEMPORAL_ADDRESS"].endswith(f":{values['server']['frontend']['service']['port']}")
