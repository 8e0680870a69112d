"""What the pytester tests of the plugin share: the ini of a project that uses it, and the options that
point every system at a loopback port where nothing listens (the report's version lookups fail fast)."""

INI = """
[pytest]
addopts = --strict-markers -p no:cacheprovider
markers =
    nightly: n
    smoke: s
    criteria: c
    drill: d
    severity(level): l
"""
OFFLINE = ["--set", "retries=0", "--grafana-url", "http://127.0.0.1:9", "--loki-url", "http://127.0.0.1:9",
           "--promtail-url", "http://127.0.0.1:9", "--backend-url", "http://127.0.0.1:9"]
