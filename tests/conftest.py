"""Suite-wide settings.

Under CI (CI=true) hypothesis searches a fixed, reproducible set of examples, so a landing
never depends on the luck of a random search; developers' runs keep exploring new examples
(and their failures are saved in .hypothesis/ and replayed first next time).
"""

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")
