"""A Loki config file judged against the Loki version the compose file deploys."""

from opsverify.lint import Finding, keypath_text
from opsverify.lint.loki_keys import first_version_with, known_keys
from opsverify.loki_analysis import retention_problems

# Mappings whose keys are the user's own names, not Loki's: not judged (limits per tenant, labels, tags).
FREE_FORM = {"tags", "per_tenant_override_config", "external_labels", "headers", "http_headers"}


def unknown_keys(document, version):
    """Findings for every key of the config that Loki `version` does not know; None when opsverify has no
    table for that version (then nothing can be said: the check is 'not checked', never passed)."""
    known = known_keys(version)
    if known is None:
        return None
    found = []

    def visit(value, keypath):
        if isinstance(value, dict):
            for key, item in value.items():
                here = keypath + (key,)
                if str(key) not in known:
                    later = first_version_with(str(key))
                    why = (f"Loki {version} has no key '{key}' (it arrived in Loki {later})" if later else
                           f"Loki {version} has no key '{key}' (misspelt, or from another version)")
                    found.append(Finding(document.name, document.at(here),
                                         f"{why}: Loki refuses the whole file at start-up "
                                         f"(\"field {key} not found\")"))
                elif str(key) not in FREE_FORM:
                    visit(item, here)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                visit(item, keypath + (index,))

    visit(document.data or {}, ())
    return found


def retention_findings(document, keep):
    """What in the file stops Loki from keeping `keep` of logs (opsverify.loki_analysis, the same analysis
    the live check runs on GET /config), and a reject_old_samples_max_age shorter than `keep`."""
    config = document.data or {}
    found = [Finding(document.name, _where(document, text), text)
             for text in retention_problems(config, keep, config)]
    return found


def _where(document, text):
    for section in ("limits_config", "table_manager", "compactor"):
        for key in ("retention_period", "retention_enabled", "retention_deletes_enabled", "retention_stream"):
            if f"{section}.{key}" in text:
                return document.at((section, key))
    return keypath_text(())


