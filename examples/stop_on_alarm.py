"""A controller client: stop the survey when the battery runs low or too many readings are noisy.

.venv/bin/python examples/stop_on_alarm.py --min-supply 11.0 --max-noisy 20
"""

import argparse

from bus.events import Subscriber
from bus.rpc import Client

parser = argparse.ArgumentParser()
parser.add_argument("--min-supply", type=float, default=11.0, help="volts")
parser.add_argument("--max-noisy", type=int, default=20, help="high_std readings in a row")
args = parser.parse_args()

noisy = 0
events = Subscriber(["soh.controller", "data.+.measurement"])
with Client() as bus:
    for message in events:
        if message.topic == "soh.controller":
            supply = message.body.get("supply_V")
            alarm = supply is not None and supply < args.min_supply and f"supply at {supply:.2f} V"
        else:
            noisy = noisy + 1 if "high_std" in message.body["flags"] else 0
            alarm = noisy >= args.max_noisy and f"{noisy} noisy readings in a row"
        if alarm:
            print(f"alarm: {alarm}: stopping the survey")
            print(bus.call("sequencer", "stop"))
            break
