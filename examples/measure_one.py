"""Measure one quadrupole and print the result.

.venv/bin/python examples/measure_one.py 1 4 2 3
"""

import sys

from bus.rpc import Client

a, b, m, n = (int(x) for x in sys.argv[1:5])
with Client(timeout=3.0) as bus:
    # retries resend the same request id: the controller runs the measurement only once
    result = bus.call("controller", "measure", a=a, b=b, m=m, n=n, settings={"nb_stack": 2}, retries=60)
record = result["record"]
print(
    f"R = {record['r_ohm']:.4f} ohm ± {record['r_std_pct']:.2f} %, "
    f"rhoa = {record['rhoa_ohmm']:.2f} ohm.m, flags: {record['flags'] or 'none'}"
)
