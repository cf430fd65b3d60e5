"""`ohmpi measure A B M N`: one quadrupole, now."""

from ..connect import client
from ..options import key_values
from ..output import to_json

NAME = "measure"
HELP = "measure one quadrupole (electrodes 1-based) and print R, rhoa and quality"


def configure(parser) -> None:
    for role in "abmn":
        parser.add_argument(role, type=int, help=f"electrode {role.upper()}")
    parser.add_argument("--stacks", type=int, help="number of stacks")
    parser.add_argument("--injection-ms", type=float, help="injection half-cycle duration")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="any other setting")


def _channel(r: dict) -> str:
    """The receiver channel, when the instrument has several (records before them: none)."""
    return f" (channel {r['channel']})" if r.get("channel") not in (None, 1) else ""


def run(args) -> int:
    settings = key_values(args.set)
    if args.stacks is not None:
        settings["nb_stack"] = args.stacks
    if args.injection_ms is not None:
        settings["injection_ms"] = args.injection_ms
    with client(args) as c:  # however long: the controller answers `in_progress` while it measures
        result = c.call("controller", "measure", a=args.a, b=args.b, m=args.m, n=args.n, settings=settings)
    r = result["record"]
    if args.json:
        print(to_json(result))
        return 0
    print(
        f"{r['a']} {r['b']} {r['m']} {r['n']}{_channel(r)}  R = {_f(r['r_ohm'])} Ω ± {_f(r['r_std_pct'])} %  "
        f"rhoa = {_f(r['rhoa_ohmm'])} Ω·m  k = {_f(r['k_m'])} m"
    )
    print(
        f"Vmn = {_f(r['vmn_mV'])} mV  I = {_f(r['iab_mA'])} mA  Vab = {_f(r['vab_V'])} V  "
        f"SP = {_f(r['sp_mV'])} mV  Rab = {_f(r['rab_kohm'])} kΩ  flags: {', '.join(r['flags']) or 'none'}"
    )
    return 0


def _f(value) -> str:
    return "-" if value is None else f"{value:.5g}"
