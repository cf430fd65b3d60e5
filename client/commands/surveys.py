"""`ohmpi surveys`: the surveys stored by the recorder."""

from ..connect import client
from ..output import table, to_json

NAME = "surveys"
HELP = "list stored surveys with their measurement counts"


def configure(parser) -> None:
    pass


def run(args) -> int:
    with client(args) as c:
        surveys = c.call("recorder", "surveys")
    if args.json:
        print(to_json(surveys))
    else:
        table(surveys, [("survey_id", "SURVEY"), ("name", "NAME"), ("state", "STATE"), ("created", "CREATED"),
                        ("measurements", "STORED"), ("total", "PER PASS"), ("repeat", "PASSES")])
    return 0
