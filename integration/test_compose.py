"""Static checks of docker-compose.yml (no Docker engine on CI machines): it parses, builds from
files that exist, uses the native launcher's own templates, publishes unique ports on 127.0.0.1
only, and matches the example profiles in profiles/."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from integration.bed import SERVER_NAMES, TEMPLATES
from integration.compose import HEADER, PROFILES, REPO, example_tables
from integration.profiles import COMPOSE_PASV, COMPOSE_PORTS, _to_toml
from integration.render import placeholders

yaml = pytest.importorskip("yaml", reason="PyYAML is needed to parse docker-compose.yml (dev extra)")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    assert isinstance(data, dict) and isinstance(data.get("services"), dict)
    return data


def _published(service: dict[str, Any]) -> list[tuple[str, int, int]]:
    """(host ip, first port, last port) of each published mapping; ranges expanded to bounds."""
    out = []
    for spec in service.get("ports", []):
        match = re.fullmatch(r"(?:(\d+\.\d+\.\d+\.\d+):)?(\d+)(?:-(\d+))?:(\d+)(?:-(\d+))?", str(spec))
        assert match, f"unparsed port spec {spec!r}"
        ip, first, last = match.group(1) or "0.0.0.0", int(match.group(2)), int(match.group(3) or match.group(2))
        out.append((ip, first, last))
    return out


def test_one_service_per_server(compose: dict[str, Any]) -> None:
    assert sorted(compose["services"]) == sorted(SERVER_NAMES)


def test_build_contexts_and_dockerfiles_exist(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        context = REPO / service["build"]["context"]
        dockerfile = context / service["build"]["dockerfile"]
        assert context.is_dir(), name
        assert dockerfile.is_file(), name
        text = dockerfile.read_text()
        assert text.splitlines()[2].startswith("FROM debian:bookworm-slim"), name
        # Every COPY source exists in the context.
        for line in re.findall(r"^COPY (.+)$", text, flags=re.M):
            for src in line.split()[:-1]:
                assert (context / src).exists(), f"{name}: COPY {src}"


def test_mounted_configs_are_the_native_templates(compose: dict[str, Any]) -> None:
    native = {p.resolve() for p in TEMPLATES.rglob("*") if p.is_file()}
    for name, service in compose["services"].items():
        mounts = [str(v) for v in service.get("volumes", [])]
        assert any(m.startswith("./integration/certs:/certs") for m in mounts), name
        configs = [m.split(":")[0] for m in mounts if "integration/servers" in m]
        assert configs, f"{name} mounts no config template"
        for source in configs:
            path = (REPO / source).resolve()
            assert path.is_file() and path in native, f"{name}: {source}"
            # ... and that is where the image's render step reads it from.
            target = next(m for m in mounts if m.startswith(source)).split(":")[1]
            dockerfile = (REPO / service["build"]["context"] / service["build"]["dockerfile"]).read_text()
            assert target in dockerfile or Path(target).name in dockerfile, f"{name}: {target} unused"


def test_dockerfiles_set_every_placeholder(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        dockerfile = (REPO / service["build"]["context"] / service["build"]["dockerfile"]).read_text()
        env_names = set(re.findall(r"\b([A-Z0-9_]+)=", dockerfile)) | set(service.get("environment", {}))
        for source in [str(v).split(":")[0] for v in service.get("volumes", []) if ".tmpl" in str(v)]:
            missing = placeholders(REPO / source) - env_names
            assert not missing, f"{name}: {source} needs {sorted(missing)}"


def test_ports_unique_and_on_loopback_only(compose: dict[str, Any]) -> None:
    seen: dict[int, str] = {}
    for name, service in compose["services"].items():
        for ip, first, last in _published(service):
            assert ip == "127.0.0.1", f"{name} publishes on {ip}"
            for port in range(first, last + 1):
                assert port not in seen, f"port {port}: {name} and {seen[port]}"
                seen[port] = name
    # The fixed ports the profiles and images assume are the ones published.
    for name, port in COMPOSE_PORTS.items():
        assert seen.get(port) == name.removesuffix("-wrong-host"), (name, port)
    for name, (low, high) in COMPOSE_PASV.items():
        assert all(seen.get(p) == name for p in range(low, high + 1)), name


def test_example_profiles_match_compose() -> None:
    tables = example_tables()
    files = {p.stem for p in PROFILES.glob("*.toml")}
    assert files == set(tables), "regenerate with `python -m integration compose-profiles`"
    for name, table in tables.items():
        assert (PROFILES / f"{name}.toml").read_text() == _to_toml(table, HEADER), name
