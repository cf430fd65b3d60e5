"""`ohmpi status`: every process on the bus, from its heartbeats."""

from ..connect import client
from ..output import table, to_json

NAME = "status"
HELP = "list the processes on the bus with their health and last-seen age"

COLUMNS = [("name", "PROCESS"), ("alive", "ALIVE"), ("age_s", "SEEN(s)"), ("pid", "PID"),
           ("uptime_s", "UPTIME(s)"), ("rss_mb", "RSS(MB)"), ("cpu_pct", "CPU%"),
           ("msgs_in", "IN"), ("msgs_out", "OUT"), ("dropped", "DROPPED"), ("missed", "MISSED")]


def configure(parser) -> None:
    parser.add_argument("--all", action="store_true", help="include processes that stopped beating")


def run(args) -> int:
    with client(args) as c:
        processes = c.call_paged("hub", "processes")
    if not args.all:
        processes = [p for p in processes if p.get("alive")]
    if args.json:
        print(to_json(processes))
    else:
        table(processes, COLUMNS)
    return 0
