"""Print every measurement as it is made (a consumer: plot, check, forward…).

.venv/bin/python examples/watch_measurements.py
"""

from bus.events import Subscriber

with_gaps = Subscriber("data.+.measurement", snapshot=False)
for message in with_gaps:
    r = message.body
    flags = ",".join(r["flags"]) or "-"
    print(f"{r['a']:3} {r['b']:3} {r['m']:3} {r['n']:3}  rhoa {r['rhoa_ohmm'] or float('nan'):9.2f} ohm.m  {flags}")
    if with_gaps.missed:
        print(f"(missed {with_gaps.missed} events: the recorder still has every measurement)")
