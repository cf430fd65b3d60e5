"""The simulated instrument: emulated chips on a fake I2C bus, mock GPIO, and the physics.

Nothing here is a stub of a driver: the drivers in ``ohmpi.hardware`` talk to these
chips through their registers exactly as they talk to the real ones.
"""

from ohmpi.sim.bus import FakeSMBus
from ohmpi.sim.clock import SimClock, resolve_time_scale

__all__ = ["FakeSMBus", "SimClock", "resolve_time_scale"]
