"""`ohmpi status`: every process on the bus, from its heartbeats, then the storage they report."""

from ..connect import client
from ..output import table, to_json

NAME = "status"
HELP = "list the processes on the bus with their health and last-seen age, and the free disk space"

COLUMNS = [
    ("name", "PROCESS"),
    ("alive", "ALIVE"),
    ("age_s", "SEEN(s)"),
    ("pid", "PID"),
    ("uptime_s", "UPTIME(s)"),
    ("rss_mb", "RSS(MB)"),
    ("cpu_pct", "CPU%"),
    ("msgs_in", "IN"),
    ("msgs_out", "OUT"),
    ("dropped", "DROPPED"),
    ("missed", "MISSED"),
]
MIB = 1 << 20


def configure(parser) -> None:
    parser.add_argument("--all", action="store_true", help="include processes that stopped beating")


def storage_lines(recorder: dict) -> list[str]:
    """What the recorder's heartbeat says of the disk: free space against the floor
    (`[recorder] min_free_mb`), database size and quota, damaged databases set aside."""
    lines = []
    free, floor = recorder.get("free_disk_bytes"), recorder.get("min_free_bytes")
    if isinstance(free, int) and isinstance(floor, int):
        verdict = "LOW: surveys hold until space returns" if recorder.get("disk_low") else "ok"
        lines.append(f"disk: {free / MIB:.1f} MiB free, floor {floor / MIB:g} MiB ([recorder] min_free_mb): {verdict}")
    used, quota = recorder.get("db_used_bytes"), recorder.get("db_quota_bytes")
    if isinstance(used, int) and isinstance(quota, int):
        lines.append(
            f"database: {used / MIB:.1f} MiB of its {quota / MIB:g} MiB quota"
            + (" (over: export and remove old surveys)" if recorder.get("over_quota") else "")
        )
    aside = recorder.get("db_set_aside") or []
    if aside:
        lines.append(f"damaged databases set aside: {len(aside)} (latest {aside[-1].get('path')})")
    return lines


def run(args) -> int:
    with client(args) as c:
        processes = c.call_paged("hub", "processes")
    if not args.all:
        processes = [p for p in processes if p.get("alive")]
    if args.json:
        print(to_json(processes))
    else:
        table(processes, COLUMNS)
        recorder = next((p for p in processes if p.get("name") == "recorder"), None)
        for line in storage_lines(recorder or {}):
            print(line)
    return 0
