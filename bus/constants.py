"""The bus's shared vocabulary and limits, in one place: what a log record may say and how much.

The web gateway serves these to the page (GET /api/spec) and checks requests with them; the
domain (`ohmpi/`, which may not import `bus`) keeps the copies it needs, pinned equal to these
by tests/test_constants.py."""

LOG_LEVELS = ("debug", "info", "warning", "error", "critical")  # in rising order of severity
LEVEL_NUMBERS = {name: 10 * (i + 1) for i, name in enumerate(LOG_LEVELS)}  # as Python's logging numbers them
MAX_LOG_TEXT = 4096  # characters of a log message (and of each text field) put on the bus
LOG_PER_MINUTE = 600  # log records per level and minute a process may send; the rest is counted
