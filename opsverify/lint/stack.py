"""The compose stack itself: monitoring images pinned to a version, no credential written into a file, and
where Grafana is published (the hosts a notification link may point at)."""

import re

from opsverify.lint import Finding
from opsverify.rules import host_of

SECRET_KEY = re.compile(r"pass(word|wd)?$|passwd|token|secret|api_?key|credentials?$|private_?key", re.I)
REFERENCE = re.compile(r"^\s*(\$\{[^}]*\}|\$[A-Za-z_][A-Za-z0-9_]*|\$__(file|env|vault)\{[^}]*\})\s*$")
NOT_SECRET_KEYS = re.compile(r"_FILE$|^secureFields$|tokenurl|token_?type|password_?file|passwordFile", re.I)


def unpinned_images(services):
    """Monitoring services (Grafana, Loki, Promtail) whose image has no tag or the tag latest."""
    found = []
    for service in services:
        if not service.role:
            continue
        tag = service.tag
        if not tag or tag == "latest":
            document = service.file
            found.append(Finding(document.name, document.at(("services", service.name, "image")),
                                 f"service '{service.name}' runs {service.image or '(no image)'}: "
                                 + ("no tag, so 'latest'" if not tag else "the tag 'latest'")
                                 + f"; the {service.role} the suite and its config were checked against can "
                                 "change under them at the next pull"))
    return found


def secret_literals(documents):
    """(Finding) for every key that names a password, token or secret and holds a literal value (not an
    environment reference ${VAR}, $__file{...}, $__env{...}); the value is never part of the finding."""
    found = []

    def visit(document, value, keypath):
        if isinstance(value, dict):
            for key, item in value.items():
                here = keypath + (key,)
                if isinstance(item, (dict, list)):
                    visit(document, item, here)
                elif _literal_secret(str(key), item):
                    found.append(Finding(document.name, document.at(here),
                                         f"'{key}' holds a literal credential (value not shown): move it to the "
                                         "environment (${VAR}) or a secret file"))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                if isinstance(item, str) and "=" in item and not isinstance(value, dict):
                    name, _, text = item.partition("=")
                    if _literal_secret(name, text):
                        found.append(Finding(document.name, document.at(keypath + (index,)),
                                             f"'{name}' holds a literal credential (value not shown): move it "
                                             "to the environment (${VAR}) or a secret file"))
                        continue
                visit(document, item, keypath + (index,))

    for document in documents:
        visit(document, document.data, ())
    return found


def _literal_secret(key, value):
    if not SECRET_KEY.search(key) or NOT_SECRET_KEYS.search(key):
        return False
    if value is None or isinstance(value, bool):
        return False
    text = str(value).strip()
    return bool(text) and not REFERENCE.match(text)


def grafana_hosts(service):
    """host[:port] a link may use to reach this Grafana: GF_SERVER_ROOT_URL's, and localhost / 127.0.0.1 on
    every port the service publishes for Grafana's HTTP port (GF_SERVER_HTTP_PORT, default 3000)."""
    hosts = set()
    root = service.environment.get("GF_SERVER_ROOT_URL", "")
    if root and "$" not in root:
        hosts.add(host_of(root))
    http_port = service.environment.get("GF_SERVER_HTTP_PORT") or "3000"
    for published, container in service.ports:
        if container == http_port and published:
            hosts |= {f"localhost:{published}", f"127.0.0.1:{published}"}
    return {h for h in hosts if h}
