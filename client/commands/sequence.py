"""`ohmpi sequence generate|check`: make or validate an ABMN sequence file (no bus needed)."""

import sys

from ..options import add_actions
from ..output import to_json

NAME = "sequence"
HELP = "generate a sequence file (wenner, schlumberger, dipole-dipole, gradient), check or optimize one"


def configure(parser) -> None:
    sub = add_actions(parser)
    gen = sub.add_parser("generate", help="write a generated sequence")
    gen.add_argument("array", help="wenner, schlumberger, dipole-dipole or gradient")
    gen.add_argument("--electrodes", type=int, required=True)
    gen.add_argument("--reciprocals", action="store_true", help="append the reciprocal (MNAB) of each")
    gen.add_argument("-o", "--output", help="file to write (default: stdout)")
    chk = sub.add_parser("check", help="validate a sequence file; errors name the line")
    chk.add_argument("file")
    chk.add_argument("--electrodes", type=int, default=64, help="the instrument's electrode count")
    opt = sub.add_parser(
        "optimize",
        help="reorder a sequence file so the fewest relays move (A-B stay "
        "while M-N move; same quadrupoles, reciprocals still after their normals)",
    )
    opt.add_argument("file")
    opt.add_argument("--electrodes", type=int, default=64, help="the instrument's electrode count")
    opt.add_argument("-o", "--output", help="file to write (default: stdout)")


def run(args) -> int:
    from ohmpi import sequences

    if args.action == "generate":
        seq = sequences.generate(args.array, args.electrodes)
        if args.reciprocals:
            seq = sequences.with_reciprocals(seq)
        text = f"# {args.array}, {args.electrodes} electrodes, {len(seq)} quadrupoles\n" + sequences.format_sequence(
            seq
        )
        if args.output:
            with open(args.output, "w") as fh:
                fh.write(text)
            print(
                to_json({"file": args.output, "count": len(seq)})
                if args.json
                else f"{len(seq)} quadrupoles written to {args.output}"
            )
        else:
            sys.stdout.write(text)
        return 0
    try:
        seq = sequences.load_sequence(args.file, args.electrodes)
    except sequences.SequenceError as exc:
        if args.json:
            print(to_json({"ok": False, "errors": exc.errors}))
        else:
            for line, reason in exc.errors:
                print(f"{args.file}:{line}: {reason}", file=sys.stderr)
        return 2
    if args.action == "optimize":
        return _optimize(args, seq)
    print(to_json({"ok": True, "count": len(seq)}) if args.json else f"{args.file}: {len(seq)} quadrupoles, ok")
    return 0


def _optimize(args, seq) -> int:
    from ohmpi import sequence_order, sequences

    out = sequence_order.optimize(seq)
    before, after = sequence_order.relay_operations(seq), sequence_order.relay_operations(out)
    text = (
        f"# {args.file} in relay-sparing order: {len(out)} quadrupoles, {after} relay operations "
        f"(was {before})\n" + sequences.format_sequence(out)
    )
    summary = {"file": args.output, "count": len(out), "relay_operations": after, "relay_operations_before": before}
    if args.output:
        with open(args.output, "w") as fh:
            fh.write(text)
        print(
            to_json(summary)
            if args.json
            else f"{len(out)} quadrupoles written to {args.output}: {after} relay operations (was {before})"
        )
    else:
        sys.stdout.write(text)
    return 0
