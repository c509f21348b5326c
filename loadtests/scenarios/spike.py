"""EVR visits under the spike shape: `locust -f loadtests/scenarios/spike.py` (see shapes.py)."""

from loadtests.shapes import SpikeShape
from loadtests.users import VisitUser

__all__ = ["SpikeShape", "VisitUser"]
