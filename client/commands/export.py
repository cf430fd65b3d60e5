"""`ohmpi export SURVEY_ID --format ohm|protocol|csv|matrix -o FILE` (or `--all-passes -o DIR`);
`--format model|vtk`: the survey's inverted section (ohmpi invert), as cells CSV or a VTK file."""

import sys
import zlib
from pathlib import Path

from ..connect import client
from ..output import to_json

SECTION_FORMATS = ("model", "vtk")  # inverted sections (recorder: inversion_export)

NAME = "export"
HELP = "export a stored survey for pyGIMLi (.ohm), ResIPy (protocol.dat), as OhmPi CSV or a time-lapse matrix"
EXTENSIONS = {"ohm": ".ohm", "protocol": ".dat", "csv": ".csv", "matrix": "_timelapse.csv"}


def configure(parser) -> None:
    parser.add_argument("survey_id")
    parser.add_argument(
        "--format",
        choices=("ohm", "protocol", "csv", "matrix", *SECTION_FORMATS),
        default="ohm",
        help="matrix: R of every quadrupole (rows) in every pass (columns); model: the inverted "
        "section's cells (x_m,depth_m,rho_ohmm[,change_pct]); vtk: the section for ParaView",
    )
    parser.add_argument("--pass", dest="pass_index", type=int, help="only this pass (0-based)")
    parser.add_argument(
        "--all-passes",
        action="store_true",
        help="one file per pass in the directory -o, each with the quadrupoles measured in "
        "every pass in the same order (time-lapse)",
    )
    parser.add_argument(
        "--error-model",
        action="store_true",
        help="write the errors of the survey's reciprocal error model (ohmpi errmodel)",
    )
    parser.add_argument("-o", "--output", help="file to write (default: stdout); a directory with --all-passes")


def _download(c, **args) -> str:
    return c.call_chunked("recorder", "export", **args)[0]


def run(args) -> int:
    common = dict(survey_id=args.survey_id, format=args.format)
    if args.error_model:
        common["error_model"] = True
    if args.all_passes:
        if not args.output or args.pass_index is not None or args.format in ("matrix", *SECTION_FORMATS):
            print(
                "ohmpi export: --all-passes needs -o DIRECTORY, no --pass, and a per-pass format (ohm, protocol, csv)",
                file=sys.stderr,
            )
            return 2
        folder = Path(args.output)
        folder.mkdir(parents=True, exist_ok=True)
        written = []
        with client(args) as c:
            passes = c.call("recorder", "survey", survey_id=args.survey_id).get("passes") or 0
            for index in range(passes):
                text = _download(c, pass_index=index, common=True, **common)
                path = folder / f"{args.survey_id}_pass{index:03d}{EXTENSIONS[args.format]}"
                path.write_text(text)
                written.append({"file": str(path), "bytes": len(text)})
        if args.json:
            print(to_json({"files": written}))
        else:
            for item in written:
                print(f"{item['file']}: {item['bytes']} bytes")
        return 0
    with client(args) as c:
        if args.format in SECTION_FORMATS:
            text = zlib.decompress(
                c.call(
                    "recorder",
                    "inversion_export",
                    survey_id=args.survey_id,
                    format=args.format,
                    pass_index=args.pass_index,
                )["text_z"]
            ).decode()
        else:
            text = _download(c, pass_index=args.pass_index, **common)
    if args.output:
        with open(args.output, "w") as fh:
            fh.write(text)
        print(to_json({"file": args.output, "bytes": len(text)}) if args.json else f"{args.output}: {len(text)} bytes")
    else:
        sys.stdout.write(text)
    return 0
