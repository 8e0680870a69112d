"""Loads the fixture modules and the opsverify plugin; nothing else."""

pytest_plugins = [
    "opsverify.plugin",
    "fixtures.site",
    "fixtures.clients",
    "fixtures.reset",
    "fixtures.alerting",
    "fixtures.week",
    "fixtures.drill",
    "fixtures.lint",
]
