"""One module per `ohmpi` sub-command (circus style).

Each module defines NAME (the sub-command), HELP (one line), configure(parser) to add its
arguments, and run(args) -> int (the exit status). Modules listed in COMMANDS are loaded
by client.cli in that order.
"""

COMMANDS = [
    "status",
    "ping",
    "watch",
    "call",
    "measure",
    "abort",
    "rs_check",
    "settings",
    "sequence",
    "survey",
    "surveys",
    "export",
    "errmodel",
    "simulate",
    "keys",
    "users",
    "tokens",
    "web_cmd",
    "audit",
    "self_test",
    "alarms",
    "invert",
]
