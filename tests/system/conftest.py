"""Fixtures of the system tests: the whole system under supervisord (tests/support/system.py)."""

import pytest

from tests.support.system import System


@pytest.fixture
def system():
    s = System()
    yield s
    s.close()


@pytest.fixture
def make_system():
    made = []

    def make(**kw):
        made.append(System(**kw))
        return made[-1]

    yield make
    for s in made:
        s.close()
