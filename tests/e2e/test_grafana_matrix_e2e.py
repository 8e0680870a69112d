"""Issue 13: each defect scenario whose check reads Grafana fails exactly its check on every Grafana version the
sandbox plays besides 11.3 (the default, on which test_alerting_e2e runs all twelve). A file of its own, so
that pytest-xdist's loadfile gives it a worker of its own: 27 runs of about 2.5 s of CPU each."""

import pytest
from test_alerting_e2e import failed_checks
from test_grafana_versions_e2e import evidence, run

pytestmark = pytest.mark.e2e
# The defect scenarios whose check reads Grafana (test_alerting_e2e runs them all on 11.3, the default).
GRAFANA_DEFECTS = [
    ("rule-never-fires", "test_rule_can_fire[midnight_errors_001]"),
    ("rule-nodata-alerting", "test_rule_quiet_without_data[midnight_reset_failure_002]"),
    ("rule-invalid-query", "test_rule_queries_valid[midnight_queue_anomaly_003]"),
    ("rule-wrong-route", "test_rule_routes_as_promised[midnight_errors_001]"),
    ("rule-wrong-severity", "test_rule_well_formed[midnight_reset_failure_002]"),
    ("contact-placeholder", "test_contact_point_delivers[midnight-critical]"),
    ("contact-wrong-grafana-link", "test_notification_links_point_at_this_grafana"),
    ("dashboard-broken", "test_dashboard_queries_valid"),
    # both critical rules go to the muted route
    ("route-muted-at-midnight", ("test_rule_routes_as_promised[midnight_errors_001]",
                                 "test_rule_routes_as_promised[midnight_reset_failure_002]")),
]


@pytest.mark.parametrize("scenario, check", GRAFANA_DEFECTS, ids=[s for s, _ in GRAFANA_DEFECTS])
@pytest.mark.parametrize("version", ["9.5", "10.4", "12.1"])
def test_each_grafana_defect_fails_exactly_its_check_on_every_version(tmp_path, scenario, check, version):
    out = run(tmp_path, scenario, version)
    if (scenario, version) == ("contact-placeholder", "9.5"):
        # Grafana 9.x shows a webhook URL only as [REDACTED] and has no export: nobody can see the
        # placeholder through its API. The check says it could not look (the limit of 9.x).
        assert failed_checks(out) == []
        assert "not checked for placeholders" in evidence(out, check, "note")
        return
    assert failed_checks(out) == sorted([check] if isinstance(check, str) else check), out.record()["issues"]
    assert out.record()["status"] == "warning"
