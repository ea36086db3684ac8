"""Shared test configuration.

Hypothesis runs a bounded number of examples so the suite stays within CI's
time budget on 2 cores; set HYPOTHESIS_PROFILE=thorough for a longer run.
"""

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("thorough", max_examples=2000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
