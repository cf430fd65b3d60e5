"""Run by tests/ohmpi/test_interop.py under a Python that has pyGIMLi and ResIPy: load our exports
with the tools' own readers and print what they read, as JSON (argv[1]: the files' common stem).

ResIPy's parsers are loaded from its installed parsers.py directly: importing the package also
loads its mesh extension, which some numpy versions refuse, and the parsers do not need it."""

import importlib.util
import json
import sys
import warnings

warnings.filterwarnings("ignore")
stem = sys.argv[1]
out = {}

from pygimli.physics import ert  # noqa: E402

data = ert.load(stem + ".ohm")
out["pygimli"] = {
    "size": data.size(),
    "sensors": data.sensorCount(),
    "r": list(data["r"]),
    "err": list(data["err"]),
    "ip": list(data["ip"]) if data.haveData("ip") else None,
    "a": [int(v) for v in data["a"]],
}

spec = importlib.util.find_spec("resipy")
location = spec.submodule_search_locations[0] + "/parsers.py"
parser_spec = importlib.util.spec_from_file_location("resipy_parsers", location)
parsers = importlib.util.module_from_spec(parser_spec)
parser_spec.loader.exec_module(parsers)
elec, df = parsers.bertParser(stem + ".ohm")
out["resipy_ohm"] = {
    "rows": len(df),
    "electrodes": len(elec),
    "resist": df["resist"].tolist(),
    "magErr": df["magErr"].tolist(),
    "ip": df["ip"].tolist(),
}
elec, df = parsers.ohmpiParser(stem + ".csv")
out["resipy_ohmpi"] = {
    "rows": len(df),
    "resist": df["resist"].tolist(),
    "dev": df["dev"].tolist(),
    "abmn": df[["a", "b", "m", "n"]].values.tolist(),
}
elec, df = parsers.protocolParser(stem + ".dat")
out["resipy_protocol"] = {"rows": len(df), "resist": df["resist"].tolist(), "magErr": df["magErr"].tolist()}
print(json.dumps(out, default=float))
