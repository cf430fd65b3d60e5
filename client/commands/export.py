"""`ohmpi export SURVEY_ID --format ohm|protocol|csv -o FILE`."""

import hashlib
import sys

from ..connect import client
from ..output import to_json

NAME = "export"
HELP = "export a stored survey for pyGIMLi (.ohm), ResIPy (protocol.dat) or as OhmPi CSV"


def configure(parser) -> None:
    parser.add_argument("survey_id")
    parser.add_argument("--format", choices=("ohm", "protocol", "csv"), default="ohm")
    parser.add_argument("--pass", dest="pass_index", type=int, help="only this pass (0-based)")
    parser.add_argument("-o", "--output", help="file to write (default: stdout)")


def run(args) -> int:
    parts, chunk, chunks = [], 0, 1
    with client(args) as c:
        while chunk < chunks:
            reply = c.call("recorder", "export", survey_id=args.survey_id, format=args.format,
                           pass_index=args.pass_index, chunk=chunk)
            parts.append(reply["text"])
            chunks = reply["chunks"]
            chunk += 1
    text = "".join(parts)
    digest = reply.get("sha256")
    if digest and hashlib.sha256(text.encode()).hexdigest() != digest:
        raise ValueError("export changed while it was being downloaded (checksum mismatch): try again")
    if args.output:
        with open(args.output, "w") as fh:
            fh.write(text)
        print(to_json({"file": args.output, "bytes": len(text)}) if args.json
              else f"{args.output}: {len(text)} bytes")
    else:
        sys.stdout.write(text)
    return 0
