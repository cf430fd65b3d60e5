"""The measurement of one quadrupole: square-wave injection with polarity reversal,
stacking, mains-synchronous sampling, self-potential removal, R and its spread.

``measure(board, positions, (a, b, m, n), settings, abort=...)`` returns the result
record (``ohmpi.record``) and the full waveform.
"""

from ohmpi.measure.procedure import Aborted, measure
from ohmpi.measure.settings import SETTINGS_SPEC, SettingError, Settings, SettingSpec, validate_settings

__all__ = ["Aborted", "SETTINGS_SPEC", "SettingError", "SettingSpec", "Settings", "measure", "validate_settings"]
