"""Download the newest survey for pyGIMLi (.ohm), ResIPy (protocol.dat) or as OhmPi CSV.

.venv/bin/python examples/export_survey.py ohm newest.ohm
"""

import sys

from bus.rpc import Client

fmt, path = sys.argv[1], sys.argv[2]
with Client() as bus:
    newest = bus.call("recorder", "surveys")[0]
    parts, chunk, chunks = [], 0, 1
    while chunk < chunks:  # large files come in chunks under the bus's message limit
        reply = bus.call("recorder", "export", survey_id=newest["survey_id"], format=fmt, chunk=chunk)
        parts.append(reply["text"])
        chunks, chunk = reply["chunks"], chunk + 1
with open(path, "w") as fh:
    fh.write("".join(parts))
print(f"{newest['survey_id']} ({newest['measurements']} measurements) -> {path}")
