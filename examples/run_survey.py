"""Generate a sequence, start a survey and follow its progress until it ends.

.venv/bin/python examples/run_survey.py dipole-dipole 32
"""

import sys

from bus.events import Subscriber
from bus.rpc import Client

array, electrodes = sys.argv[1], int(sys.argv[2])
with Client() as bus:
    bus.call("sequencer", "generate", array=array, electrodes=electrodes)
    survey = bus.call("sequencer", "start", name=f"{array} example", stacks=2)
print(f"survey {survey['survey_id']}: {survey['total']} quadrupoles")

# state.sequencer is cached by the hub: the first message arrives at once
progress = Subscriber("state.sequencer")
for message in progress:
    state = message.body
    if state["survey_id"] != survey["survey_id"]:
        continue
    print(f"\r{state['state']}: {state['done']}/{state['total']}", end="", flush=True)
    if state["state"] in ("finished", "stopped", "failed"):
        print()
        break
