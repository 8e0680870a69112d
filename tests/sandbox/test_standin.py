"""The backend stand-in container, on the real Docker engine at DOCKER_HOST (no fake Docker API).

Without an engine these tests skip, naming DOCKER_HOST; with OPSVERIFY_REQUIRE_DOCKER=1 (CI)
that is a failure. Each test names its containers uniquely and removes what it created.
"""

import os
import re
import secrets
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sandbox import scenario, standin

pytestmark = pytest.mark.docker

ROOT = Path(__file__).resolve().parents[2]

STAMP = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z) (.*)$")
ACCESS = re.compile(r'^::ffff:127\.0\.0\.1 - - \[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d \+0000\] "GET /health HTTP/1\.1" '
                    r'200 52 "-" "Wget"$')


def docker_errors():
    import docker

    return docker.errors


@pytest.fixture
def names(docker_client):
    """Unique container names for a test; whatever still carries them at the end is removed
    (the test created it)."""
    made = []

    def name():
        made.append(f"opsverify-test-{secrets.token_hex(4)}")
        return made[-1]

    yield name
    for each in made:
        try:
            docker_client.containers.get(each).remove(force=True)
        except docker_errors().NotFound:
            pass


def stamped_log(container):
    """The container's log as [(timestamp, line)], as `docker logs --timestamps` gives it."""
    text = container.logs(timestamps=True).decode("utf-8")
    return [STAMP.match(line).groups() for line in text.splitlines()]


def wait_for(predicate, seconds):
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def test_image_is_imported_once_then_reused(docker_client, monkeypatch):
    tag = f"opsverify-standin:test-{secrets.token_hex(4)}"
    imports = []
    real_import = docker_client.api.import_image
    monkeypatch.setattr(docker_client.api, "import_image", lambda **kw: imports.append(kw) or real_import(**kw))
    try:
        first = standin.ensure_image(docker_client, tag)
        second = standin.ensure_image(docker_client, tag)
        assert first.id == second.id and len(imports) == 1
        config = docker_client.api.inspect_image(tag)["Config"]
    finally:
        docker_client.images.remove(tag, force=True)
    assert config["User"] == "node" and config["WorkingDir"] == "/app"
    assert "TZ=Asia/Manila" in config["Env"]
    assert config["Entrypoint"] == [standin.ENTRYPOINT] and config["Cmd"] == list(standin.STARTUP_LINES)
    assert config["Healthcheck"]["Test"] == ["CMD-SHELL", "test -f /tmp/ready"]
    assert standin.LABEL not in (config["Labels"] or {})  # containers inherit image labels


def test_default_image_is_reused(docker_client, standin_image):
    assert standin.ensure_image(docker_client).id == standin_image.id
    assert standin.IMAGE in standin_image.tags


def test_standin_runs_without_network_as_node_and_turns_healthy(docker_client, standin_image, names):
    name = names()
    started = time.monotonic()
    container = standin.run(docker_client, name, scenario="test-scenario", access_every=1, healthy_within=10)
    assert time.monotonic() - started < 10
    attrs = docker_client.api.inspect_container(container.id)
    assert attrs["State"]["Health"]["Status"] == "healthy"
    assert attrs["HostConfig"]["NetworkMode"] == "none"
    assert list(attrs["NetworkSettings"]["Networks"]) == ["none"]
    assert all(not net["IPAddress"] and not net["GlobalIPv6Address"]
               for net in attrs["NetworkSettings"]["Networks"].values())
    assert attrs["Config"]["User"] == "node" and attrs["Config"]["Image"] == standin.IMAGE
    assert attrs["Config"]["Labels"][standin.LABEL] == "1"
    assert attrs["Config"]["Labels"][standin.SCENARIO_LABEL] == "test-scenario"
    health = attrs["Config"]["Healthcheck"]
    assert (health["Test"], health["Interval"], health["Retries"]) == (
        ["CMD-SHELL", "test -f /tmp/ready"], 1_000_000_000, 3)
    assert not health.get("StartPeriod")
    assert attrs["HostConfig"]["LogConfig"]["Type"] == "json-file"
    # The main process runs as node (uid 1000); only loopback inside.
    assert container.exec_run(["grep", "^Uid:", "/proc/1/status"]).output.decode().split()[1:] == ["1000"] * 4
    assert container.exec_run(["id", "-un"]).output.decode().strip() == "node"
    assert container.exec_run(["ls", "/sys/class/net"]).output.decode().split() == ["lo"]
    assert container.exec_run(["sh", "-c", "test -w /app && echo writable"]).output.decode().strip() == "writable"
    # Its own log, with the engine's timestamps: the start-up lines, then access lines.
    assert wait_for(lambda: len(stamped_log(container)) >= 3, 5), stamped_log(container)
    log = stamped_log(container)
    assert [line for _, line in log[:2]] == list(standin.STARTUP_LINES)
    assert ACCESS.match(log[2][1]), log[2][1]
    assert standin.stop(docker_client, name) is True
    with pytest.raises(docker_errors().NotFound):
        docker_client.containers.get(container.id)
    assert standin.stop(docker_client, name) is False


def test_a_labelled_container_is_replaced(docker_client, standin_image, names):
    name = names()
    first = standin.run(docker_client, name, ["one"], scenario="a", healthy_within=None)
    second = standin.run(docker_client, name, ["two"], scenario="b", healthy_within=None)
    assert first.id != second.id
    with pytest.raises(docker_errors().NotFound):
        docker_client.containers.get(first.id)
    assert docker_client.containers.get(name).labels[standin.SCENARIO_LABEL] == "b"
    standin.stop(docker_client, name)


def test_an_unlabelled_container_is_refused_and_left_alone(docker_client, standin_image, names):
    name = names()
    # Someone else's container with that name (it could be production): no opsverify.sandbox label.
    theirs = docker_client.containers.run(standin.IMAGE, name=name, network_mode="none", detach=True)
    before = docker_client.api.inspect_container(theirs.id)
    assert standin.LABEL not in before["Config"]["Labels"]
    with pytest.raises(standin.StandinError, match=f"named {name} .*without the label opsverify.sandbox=1.*"
                                                   "could be production"):
        standin.run(docker_client, name, scenario="test", healthy_within=None)
    with pytest.raises(standin.StandinError, match="without the label opsverify.sandbox=1"):
        standin.stop(docker_client, name)
    after = docker_client.api.inspect_container(name)
    assert after["Id"] == before["Id"] and after["State"]["Running"]
    assert after["State"]["StartedAt"] == before["State"]["StartedAt"] and after["RestartCount"] == 0
    assert after["Config"]["Labels"] == before["Config"]["Labels"]


def test_cli_runs_the_standin_and_removes_it_on_sigterm(docker_client, standin_image, sandboxes):
    sc = scenario.load("healthy")
    host = standin.docker_host()
    try:
        started = time.monotonic()
        sandbox = sandboxes("--docker")
        assert time.monotonic() - started < 10  # the image exists (standin_image)
        assert sandbox.env["DOCKER_HOST"] == host and sandbox.env["OPSVERIFY_CONTAINER"] == sc.container
        container = docker_client.containers.get(sc.container)
        assert container.labels[standin.LABEL] == "1" and container.labels[standin.SCENARIO_LABEL] == "healthy"
        assert container.attrs["State"]["Health"]["Status"] == "healthy"
        assert [line for _, line in stamped_log(container)] == sc.startup_lines() == list(standin.STARTUP_LINES)
        assert sandbox.stop() == 0
        with pytest.raises(docker_errors().NotFound):
            docker_client.containers.get(container.id)
    finally:
        standin.stop(docker_client, sc.container)  # only ever the sandbox's own (labelled) container


def test_cli_without_an_engine_exits_2_naming_docker_host(tmp_path):
    host = f"unix://{tmp_path}/no-engine.sock"
    env_file = tmp_path / "sandbox.env"
    result = subprocess.run([sys.executable, "-m", "sandbox", "--docker", "--env-file", str(env_file)],
                            cwd=ROOT, capture_output=True, text=True, encoding="utf-8", timeout=30,
                            env={**os.environ, "DOCKER_HOST": host})
    assert result.returncode == 2
    assert f"no Docker engine answers at DOCKER_HOST={host}" in result.stderr
    assert not env_file.exists()
