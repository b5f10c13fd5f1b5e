"""Fixtures shared by the integration tests (pytest finds this file itself); the
helpers behind them live in framework/."""
import itertools
import os
import sys
import tempfile

import pytest

# framework/ is a package next to this file; CTest also sets PYTHONPATH to here.
HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)
# Failed asserts in the framework's helpers show their operands, as in a test file.
pytest.register_assert_rewrite("framework")

from framework.daemon import Env  # noqa: E402
from framework.net import World, require_netns_prerequisites  # noqa: E402


@pytest.fixture
def env():
    """An Env: a skiffd on a fresh temporary root and the test guest; every domain
    still running is destroyed and the daemon stopped afterwards."""
    with tempfile.TemporaryDirectory(prefix="skiff-life-") as root:
        e = Env(root)
        try:
            yield e
        finally:
            e.close()


_worlds = itertools.count(1)


@pytest.fixture
def world():
    """A World of network namespaces for one test, removed afterwards."""
    require_netns_prerequisites()
    w = World(str(next(_worlds)))
    yield w
    w.close()
