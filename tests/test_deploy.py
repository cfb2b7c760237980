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


ROLES = ("worker", "web", "loop")


def test_compose_agrees_with_the_code() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert {"temporal", "temporal-ui", "postgresql", "ray-head", "ray-worker", *ROLES, "autoops-db",
            "otel-collector", "jaeger"} <= set(services)
    commands = {c.name or c.callback.__name__ for c in app.registered_commands}
    for name in ("ray-head", "ray-worker", *ROLES):
        assert services[name]["image"] == IMAGE
    for role in ROLES:
        svc = services[role]
        assert svc["command"][:2] == ["autoops", role] and role in commands
        assert svc["deploy"]["replicas"] >= 2  # workers and web replicated, the loop fails over
        env = svc["environment"]
        assert set(k for k in env if k.startswith("AUTOOPS_")) <= KNOWN_ENV
        assert env["AUTOOPS_TEMPORAL_ADDRESS"] == "temporal:7233"
        # One shared state in PostgreSQL for every role: the autoops-db service's database.
        db = services["autoops-db"]["environment"]
        assert env["AUTOOPS_STATE_URL"].startswith(f"postgresql://{db['POSTGRES_USER']}:")
        assert env["AUTOOPS_STATE_URL"].endswith(f"@autoops-db:5432/{db['POSTGRES_DB']}")
        assert int(env["AUTOOPS_LOOP_PARTITIONS"]) >= 2
    env = services["loop"]["environment"]
    assert env["AUTOOPS_RAY_ADDRESS"].startswith("ray://ray-head:")
    assert "--ray-client-server-port=" + env["AUTOOPS_RAY_ADDRESS"].rsplit(":", 1)[1] in services["ray-head"]["command"]
    web = services["web"]
    port = int(web["environment"]["AUTOOPS_WEB_PORT"])
    published = web["ports"][0].split(":")
    assert published[0] == "127.0.0.1" and published[-1] == str(port)
    first, last = (int(p) for p in published[1].split("-"))
    assert last - first + 1 == web["deploy"]["replicas"]  # a host port per replica
    # Workers hand the partners the web service's address for their callbacks.
    assert services["worker"]["environment"]["AUTOOPS_CALLBACK_URL"] == f"http://web:{port}"
    for svc in services.values():
        for published in svc.get("ports", []):
            assert published.startswith("127.0.0.1:"), published
    collector = yaml.safe_load((DEPLOY / "otel-collector.yaml").read_text())
    assert web["environment"]["OTEL_EXPORTER_OTLP_ENDPOINT"].endswith(
        collector["receivers"]["otlp"]["protocols"]["http"]["endpoint"].split(":")[1]
    )


def test_kubernetes_manifests_agree_with_the_code() -> None:
    (cluster,) = docs(DEPLOY / "k8s" / "raycluster.yaml")
    assert cluster["kind"] == "RayCluster" and cluster["spec"]["rayVersion"] == pinned("ray")
    head = cluster["spec"]["headGroupSpec"]
    assert head["template"]["spec"]["containers"][0]["image"] == IMAGE
    client_port = head["rayStartParams"]["ray-client-server-port"]

    manifests = docs(DEPLOY / "k8s" / "orchestrator.yaml")
    by_kind: dict[str, list[dict]] = {}
    for manifest in manifests:
        by_kind.setdefault(manifest["kind"], []).append(manifest)
    assert set(by_kind) == {"ConfigMap", "Deployment", "Service"}
    plant = tomllib.loads(by_kind["ConfigMap"][0]["data"]["plant.toml"])
    from orchestrator.config import parse_config
    from orchestrator.roles import check_role_config

    config = parse_config(plant)
    assert config.site and config.loop.partitions >= 2
    deployments = {d["metadata"]["name"]: d for d in by_kind["Deployment"]}
    assert set(deployments) == {f"autoops-{role}" for role in ROLES}
    commands = {c.name or c.callback.__name__ for c in app.registered_commands}
    for role in ROLES:
        spec = deployments[f"autoops-{role}"]["spec"]
        assert spec["replicas"] >= 2
        containers = spec["template"]["spec"]["containers"]
        assert containers[0]["image"] == IMAGE
        assert containers[0]["command"][:2] == ["autoops", role] and role in commands
        assert {n for n in env_names(containers) if n.startswith("AUTOOPS_")} <= KNOWN_ENV
        env = {e["name"]: e for e in containers[0]["env"]}
        assert env["AUTOOPS_STATE_URL"]["valueFrom"]["secretKeyRef"]["name"] == "autoops-secrets"
        # The plant file, with the cluster's Temporal address, is enough for the role to start.
        check_role_config(config.model_copy(update={"temporal": config.temporal.model_copy(
            update={"address": env["AUTOOPS_TEMPORAL_ADDRESS"]["value"]})}), role)
    env = {e["name"]: e.get("value") for e in deployments["autoops-loop"]["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["AUTOOPS_RAY_ADDRESS"].endswith(f":{client_port}")
    web = deployments["autoops-web"]["spec"]["template"]["spec"]["containers"][0]
    web_env = {e["name"]: e.get("value") for e in web["env"]}
    port = int(web_env["AUTOOPS_WEB_PORT"])
    assert web["ports"][0]["containerPort"] == port
    (service,) = by_kind["Service"]
    assert service["spec"]["ports"][0]["targetPort"] == "web"
    assert service["spec"]["selector"] == deployments["autoops-web"]["spec"]["selector"]["matchLabels"]
    assert "sessionAffinity" not in service["spec"]  # sessions are shared: any replica will do
    worker_env = {e["name"]: e.get("value") for e in deployments["autoops-worker"]["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert worker_env["AUTOOPS_CALLBACK_URL"] == f"http://{service['metadata']['name']}.autoops:{port}"

    values = yaml.safe_load((DEPLOY / "k8s" / "temporal-values.yaml").read_text())
    assert values["server"]["config"]["persistence"]["default"]["sql"]["driver"] == "postgres12"
    assert env["AUTOOPS_TEMPORAL_ADDRESS"].endswith(f":{values['server']['frontend']['service']['port']}")
