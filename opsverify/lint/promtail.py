"""A Promtail config file against the volumes mounted into the Promtail service."""

import re

from opsverify.lint import Finding

DOCKER_SOCKET = "/var/run/docker.sock"


def glob_base(path):
    """The directory part of a __path__ glob before its first wildcard ('/var/log/app/*.log' -> '/var/log/app')."""
    parts = []
    for part in str(path).split("/"):
        if re.search(r"[*?\[{]", part):
            break
        parts.append(part)
    base = "/".join(parts) or "/"
    return base


def path_findings(document, service):
    """A file job whose __path__ lies in no volume mounted into `service` (the Promtail service): inside the
    container it matches nothing, so the job has zero targets. A docker_sd job on the unix socket without
    /var/run/docker.sock mounted discovers nothing."""
    found = []
    mounts = [m.target for m in service.mounts]
    for index, job in enumerate((document.data or {}).get("scrape_configs") or ()):
        name = job.get("job_name", f"#{index}")
        for sc_index, static in enumerate(job.get("static_configs") or ()):
            path = (static.get("labels") or {}).get("__path__")
            if not path:
                continue
            mount = service.mounted(glob_base(path))
            if mount is None:
                keypath = ("scrape_configs", index, "static_configs", sc_index, "labels", "__path__")
                found.append(Finding(document.name, document.at(keypath),
                                     f"job '{name}': __path__ {path} is in no volume mounted into the "
                                     f"'{service.name}' service (mounts: {', '.join(mounts) or 'none'}), so it "
                                     "matches no file in the container and the job has zero targets"))
        for sd_index, sd in enumerate(job.get("docker_sd_configs") or ()):
            host = str(sd.get("host") or "")
            if host.startswith("unix://"):
                socket = host[len("unix://"):]
                if not any(m.target == socket for m in service.mounts):
                    keypath = ("scrape_configs", index, "docker_sd_configs", sd_index, "host")
                    found.append(Finding(document.name, document.at(keypath),
                                         f"job '{name}': docker discovery on {host}, but {socket} is not "
                                         f"mounted into the '{service.name}' service: every refresh fails and "
                                         "no container's log is shipped"))
    return found
