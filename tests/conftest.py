"""Test-suite settings.

Hypothesis runs derandomized (examples drawn from a fixed seed per test), so a
CI run is reproducible; ``HYPOTHESIS_PROFILE=explore`` draws fresh examples on
each run, to hunt for new counterexamples locally.
"""

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, deadline=None)
settings.register_profile("explore", derandomize=False, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
