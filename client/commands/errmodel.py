"""`ohmpi errmodel SURVEY_ID [--json]`: the reciprocal error model of a stored survey."""

from ..connect import client
from ..output import to_json

NAME = "errmodel"
HELP = "fit |Rn - Rr| = a*|R|^b on a survey's reciprocal pairs (the model ResIPy uses)"


def configure(parser) -> None:
    parser.add_argument("survey_id")


def run(args) -> int:
    with client(args) as c:
        model = c.call("recorder", "errmodel", survey_id=args.survey_id)
    if args.json:
        print(to_json(model))
        return 0
    print(f"{model['model']}   (a = {model['a']:.6g}, b = {model['b']:.4f})")
    print(
        f"fitted on {model['pairs']} reciprocal pairs in {len(model['bins'])} bins of |R|; "
        f"R² (log-log) = {model['r2']:.3f}; median reciprocal error {model['median_error_pct']:.3g} %"
    )
    print(f"{'|R| (ohm)':>14} {'|Rn-Rr| (ohm)':>14} {'model':>12} {'pairs':>6}")
    for b in model["bins"]:
        predicted = model["a"] * b["r_ohm"] ** model["b"]
        print(f"{b['r_ohm']:14.5g} {b['error_ohm']:14.4g} {predicted:12.4g} {b['pairs']:6d}")
    return 0
