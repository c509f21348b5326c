"""EVR visits with Locust's own user count and spawn rate (-u, -r, --run-time).

    locust -f loadtests/locustfile.py --host http://CONTROL-PLANE --officer-tokens TOKEN

For staged load use a scenario instead: loadtests/scenarios/{ramp,soak,spike}.py.
"""

from loadtests.users import VisitUser

__all__ = ["VisitUser"]
