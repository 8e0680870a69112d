"""Promtail's docker discovery end to end (issue 13, finding 8): Promtail redeployed without the Docker socket."""

import pytest

from suite_runs import NIGHT, Outputs, nightly

pytestmark = pytest.mark.e2e


def test_a_docker_job_without_its_socket_fails_the_night_naming_the_job_and_the_mount(tmp_path):
    """promtail-docker-no-socket: since 16:30 the day before, docker job docker-containers discovers nothing
    (0/0 ready) and nothing of the backend's reaches Loki. The discovery check names the job and says to mount
    the socket, never __path__; the night is not ✅, because its reset cannot be seen."""
    reports = tmp_path / "reports"
    out = Outputs(reports, nightly(reports, "--sandbox=promtail-docker-no-socket", f"--night={NIGHT}"))
    record = out.record()
    assert record["status"] == "failed", record
    failed = sorted(i.split(":")[0] for i in record["issues"] if not i.startswith("not checked"))
    assert failed == [
        "test_backend_logs_reach_loki",  # nothing of the last 15 minutes either
        "test_exactly_one_reset", "test_promtail_discovers_the_backend_container",
        "test_promtail_jobs_have_targets", "test_promtail_shipped_without_loss",
        "test_reset_completed", "test_reset_started_on_time",
        "test_rule_replay[midnight_queue_anomaly_003]",  # the anomaly rule stayed quiet with no lines at all
    ]
    issue = {i.split(":")[0]: i for i in record["issues"]}
    discovery = issue["test_promtail_discovers_the_backend_container"]
    for words in ("Promtail (http://127.0.0.1:", "/targets)",
                  "container escashop-backend-prod among the docker-discovered targets",
                  "docker job 'docker-containers' (engine unix:///var/run/docker.sock) discovers no container at "
                  "all (0/0 ready)", "mount the Docker socket into the Promtail container",
                  "volume /var/run/docker.sock:/var/run/docker.sock:ro", "restart Promtail",
                  "docker ps --filter name=escashop-backend-prod", "its log lines are not shipped to Loki"):
        assert words in discovery, (words, discovery)
    assert "__path__" not in discovery and "n/a" not in discovery
    jobs = issue["test_promtail_jobs_have_targets"]
    assert "job 'docker-containers/unix:///var/run/docker.sock:80' has 0 of 0 targets ready: it discovers no " \
        "running container (is the Docker socket mounted into Promtail" in jobs
    assert "escashop-backend'" not in jobs.split("What to do")[0]  # the file jobs are fine
    shipped = issue["test_promtail_shipped_without_loss"]
    assert "0 sent, 0 dropped" in shipped and "Promtail read nothing to send" in shipped
    assert "retries failed" not in shipped  # nothing was dropped: the push-error advice does not fit
    assert "n/a: Promtail has no docker discovery job" not in out.everything()
