"""`ohmpi simulate`: a virtual survey on the simulated instrument, written to a file.

Runs locally (no bus): the real drivers and measurement procedure against emulated
chips and an earth model, with no waiting.
"""

from __future__ import annotations

import sys

NAME = "simulate"
HELP = "simulate a survey over an earth model and write it (.ohm, protocol.dat, OhmPi CSV)"


def configure(parser) -> None:
    parser.add_argument("--electrodes", type=int, default=24, help="number of electrodes (default 24)")
    parser.add_argument("--spacing", type=float, default=1.0, help="electrode spacing in m (default 1)")
    parser.add_argument(
        "--array", default="wenner", help="wenner, schlumberger, dipole-dipole, gradient, or a sequence file"
    )
    parser.add_argument(
        "--model",
        default="homogeneous:rho=100",
        help='"homogeneous:rho=R" or "layers:rho=R1,R2,...;h=H1,...", each optionally chargeable '
        "(Cole-Cole per layer: m in mV/V, tau in s, c in 0..1), e.g. "
        '"homogeneous:rho=100;m=50;tau=1;c=0.5" or "layers:rho=100,20;h=5;m=0,80"; '
        '"contact:rho=R1,R2;x=X" (a vertical contact at x = X m); with pyGIMLi installed '
        '(docs/inversion.md) a 2-D earth: "block:…", "circle:…" or "mesh:FILE"',
    )
    parser.add_argument(
        "--noise", type=float, default=0.01, help="relative noise of each voltage reading (0.01 = 1 %%)"
    )
    parser.add_argument(
        "--strategy",
        choices=("adaptive", "fixed"),
        default="adaptive",
        help="injection: adaptive (programmable supply) or fixed 12 V battery",
    )
    parser.add_argument("--stacks", type=int, default=2, help="stacks per quadrupole (default 2)")
    parser.add_argument(
        "--injection-ms",
        type=float,
        default=None,
        help="duration of one injection half-cycle (default 200 ms; longer for IP)",
    )
    parser.add_argument(
        "--target-std",
        type=float,
        default=None,
        help="stack until R's calibrated uncertainty is this low, in %% (default: --stacks always)",
    )
    parser.add_argument("--min-stacks", type=int, default=None, help="with --target-std: stacks always taken (1)")
    parser.add_argument("--max-stacks", type=int, default=None, help="with --target-std: at most this many (8)")
    parser.add_argument(
        "--keep-order",
        action="store_true",
        help="measure in the sequence's own order (default: the relay-sparing order, relays held between quadrupoles)",
    )
    parser.add_argument(
        "--channels",
        type=int,
        default=1,
        help="receiver channels: M-N dipoles measured at once per A-B injection (default 1; up to 6)",
    )
    parser.add_argument("--contact", type=float, default=1000.0, help="contact resistance in ohm")
    parser.add_argument("--seed", type=int, default=0, help="random seed (noise, SP, contacts)")
    parser.add_argument("--format", choices=("ohm", "protocol", "csv"), default="ohm")
    parser.add_argument("-o", "--output", help="file to write (default: stdout)")


def _one_line(exc: BaseException) -> str:
    errors = getattr(exc, "errors", None)
    if errors:
        line, reason = errors[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        return f"sequence line {line}: {reason}{more}"
    return " ".join(str(exc).split())


def _settings(args) -> dict:
    named = {
        "injection_ms": args.injection_ms,
        "target_std_pct": args.target_std,
        "min_stacks": args.min_stacks,
        "max_stacks": args.max_stacks,
    }
    return {key: value for key, value in named.items() if value is not None}


def run(args) -> int:
    from ohmpi import formats
    from ohmpi.simulate import simulate_survey

    from ..output import to_json

    try:
        records, positions, figures = simulate_survey(
            electrodes=args.electrodes,
            spacing=args.spacing,
            array=args.array,
            model=args.model,
            noise=args.noise,
            strategy=args.strategy,
            stacks=args.stacks,
            contact_ohm=args.contact,
            seed=args.seed,
            settings=_settings(args),
            optimize=not args.keep_order,
            hold_relays=not args.keep_order,
            channels=args.channels,
        )
        formats.write(args.format, records, positions, args.output or sys.stdout)
    except (ValueError, OSError) as exc:
        print(f"ohmpi simulate: {_one_line(exc)}", file=sys.stderr)
        return 2
    if getattr(args, "json", False) and args.output:
        print(to_json(figures))
    elif args.output:
        flagged = sum(1 for r in records if r["flags"])
        print(f"{len(records)} quadrupoles written to {args.output} ({flagged} flagged)", file=sys.stderr)
    return 0
