"""The run's outputs, one module each; each a plugin that receives the RunResult through the
pytest_opsverify_run_finished hook (opsverify.hooks)."""
