"""The one role model of the bus, the web and the command line.

Roles form a ladder; each grants everything the roles below it grant:

* ``viewer``   — read state, data and exports; watch events.
* ``operator`` — + measure, contact checks, surveys, settings, abort.
* ``admin``    — + process restarts, users, keys and tokens.
* ``service``  — the system's own processes: + register a service name, publish events,
  deliver stored items (``ingest``). Every peer of a keyless bus (ipc, or loopback tcp
  with ``curve = false``) has this role: whoever can reach those sockets owns the machine.
"""

from __future__ import annotations

from dataclasses import dataclass

ROLES = ("viewer", "operator", "admin", "service")
HUMAN_ROLES = ROLES[:3]
_RANK = {name: index for index, name in enumerate(ROLES)}


def check_role(role: object, allowed: tuple[str, ...] = ROLES) -> str:
    """`role` if it names a role of `allowed`; ValueError saying which are otherwise."""
    if not isinstance(role, str) or role not in allowed:
        raise ValueError(f"role {role!r} must be one of {', '.join(allowed)}")
    return role


def allows(have: str, need: str) -> bool:
    """Does a caller with role `have` pass a check that needs `need`? Unknown roles pass nothing."""
    return have in _RANK and _RANK[have] >= _RANK[need]


def lowest(*roles: str) -> str:
    """The least powerful of `roles` (acting on someone's behalf never raises a role)."""
    return min(roles, key=lambda r: _RANK.get(r, -1))


@dataclass(frozen=True, slots=True)
class Caller:
    """Who sent a request, as the hub vouches for it: a key name (or `local`) and a role."""

    user: str
    role: str

    def to_wire(self) -> dict:
        return {"user": self.user, "role": self.role}

    @classmethod
    def from_wire(cls, body: object) -> "Caller":
        if not isinstance(body, dict):
            raise ValueError("caller must be a map {user, role}")
        user, role = body.get("user"), body.get("role")
        if not isinstance(user, str) or not user or len(user) > 200:
            raise ValueError("caller user must be a string of 1..200 characters")
        return cls(user, check_role(role))


LOCAL = Caller("local", "service")
