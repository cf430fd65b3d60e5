"""`ohmpi surveys`: the surveys stored by the recorder, with what each cost the instrument
(`--json`: also `quadrupoles`, `metered` and the rest of the recorder's `surveys` answer)."""

from ..connect import client
from ..output import table, to_json

NAME = "surveys"
HELP = "list stored surveys with their measurement counts and what they cost the instrument"


def configure(parser) -> None:
    pass


def run(args) -> int:
    with client(args) as c:
        surveys = c.call("recorder", "surveys")
    if args.json:
        print(to_json(surveys))
    else:
        table(
            surveys,
            [
                ("survey_id", "SURVEY"),
                ("name", "NAME"),
                ("state", "STATE"),
                ("created", "CREATED"),
                ("measurements", "STORED"),
                ("total", "PER PASS"),
                ("repeat", "PASSES"),
                ("flagged", "FLAGGED"),
                ("sim_duration_s", "MEASURING S"),
                ("injection_s", "INJECTING S"),
                ("relay_operations", "RELAY OPS"),
                ("energy_j", "ENERGY J"),
            ],
        )
    return 0
