"""EVR visits under the ramp shape: `locust -f loadtests/scenarios/ramp.py` (see shapes.py)."""

from loadtests.shapes import RampShape
from loadtests.users import VisitUser

__all__ = ["RampShape", "VisitUser"]
