"""Loki keeps the week: retention analysis of its running configuration."""

from datetime import timedelta

import pytest

from opsverify.loki_analysis import differing, retention_problems, unbounded_label

KEEP = timedelta(days=8)


def config(**sections):
    base = {"limits_config": {"reject_old_samples": True, "reject_old_samples_max_age": "168h0m0s",
                              "retention_period": "672h0m0s"},
            "compactor": {"retention_enabled": True}, "table_manager": {"retention_deletes_enabled": False,
                                                                        "retention_period": "0s"}}
    for name, values in sections.items():
        base[name] = {**base.get(name, {}), **values}
    return base


SET = {"limits_config": {"retention_period": "4w"}}  # what differs from Loki's defaults


def test_what_differs_from_the_defaults_is_what_mode_diff_would_print():
    defaults = {"auth_enabled": True, "limits_config": {"retention_period": "31d", "reject_old_samples": False},
                "schema_config": {"configs": []}}
    running = {"auth_enabled": True, "limits_config": {"retention_period": "4w", "reject_old_samples": False},
               "schema_config": {"configs": [{"from": "2020-10-24"}]}, "compactor": {"retention_enabled": True}}
    assert differing(running, defaults) == {"limits_config": {"retention_period": "4w"},
                                            "schema_config": {"configs": [{"from": "2020-10-24"}]},
                                            "compactor": {"retention_enabled": True}}
    assert differing(defaults, defaults) == {}


def test_escashops_intent_keeps_the_week():
    assert retention_problems(config(), KEEP, SET) == []


def test_keep_forever_is_fine():
    assert retention_problems(config(limits_config={"retention_period": "0s"}), KEEP, {}) == []


def test_lokis_default_retention_period_is_not_a_configured_one():
    defaults = config(limits_config={"retention_period": "31d"}, compactor={"retention_enabled": False})
    assert retention_problems(defaults, KEEP, {}) == []


@pytest.mark.parametrize("sections, words", [
    ({"limits_config": {"retention_period": "72h"}}, "limits_config.retention_period is 3 days"),
    ({"compactor": {"retention_enabled": False}}, "limits_config.retention_period is set (28 days) but neither"),
    ({"compactor": {"retention_enabled": False}, "table_manager": {"retention_deletes_enabled": True,
                                                                   "retention_period": "96h"}},
     "table_manager.retention_period is 4 days"),
    ({"limits_config": {"reject_old_samples_max_age": "72h"}}, "reject_old_samples_max_age is 3 days"),
    ({"limits_config": {"retention_stream": [{"selector": '{container="x"}', "period": "24h"}]}},
     'retention_stream {container="x"} keeps only 1 days'),
])
def test_problems_name_the_setting(sections, words):
    problems = retention_problems(config(**sections), KEEP, SET)
    assert len(problems) == 1 and words in problems[0], problems


def test_week_durations_as_loki_prints_them():
    assert retention_problems(config(limits_config={"retention_period": "4w"}), KEEP, SET) == []


def test_unbounded_labels():
    assert not unbounded_label(2, 5000, 30)  # stream=stdout|stderr
    assert unbounded_label(31, 5000, 30)  # too many values in a night
    assert unbounded_label(20, 26, 30)  # a value for nearly every line
    assert not unbounded_label(5, 6, 30)  # a quiet night with few lines says nothing
