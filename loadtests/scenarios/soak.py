"""EVR visits under the soak shape: `locust -f loadtests/scenarios/soak.py` (see shapes.py)."""

from loadtests.shapes import SoakShape
from loadtests.users import VisitUser

__all__ = ["SoakShape", "VisitUser"]
