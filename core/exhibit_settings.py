"""The `[exhibits]` settings: limits on written statements, stills and the victim's uploads.

Validated with the rest of the file by `core.settings.load_settings`, under the same type rules.
"""

from dataclasses import dataclass
from typing import Annotated

from pydantic import ConfigDict, Field, StrictInt, with_config

# The rule of `core.settings.model.SECTION`, repeated here: that package imports this module.
_SECTION = ConfigDict(extra="forbid")


@with_config(_SECTION)
@dataclass(frozen=True, kw_only=True)
class ExhibitSettings:
    max_upload_bytes: StrictInt = 50 * 1024 * 1024
    """Largest photo or short video a victim may upload (bigger ones are refused with 413)."""
    upload_minutes_after_close: Annotated[StrictInt, Field(ge=0, le=7 * 24 * 60)] = 120
    """How long after the visit closes the victim may still send files, under the one session
    that outlives the close (their newest); never longer than that session itself lives
    (`[join] session_ttl_hours`, from when the link was opened). 0: only while it is open."""
    max_still_bytes: StrictInt = 8 * 1024 * 1024
    """Largest still the console may send (a 1080p JPEG or PNG is well under this)."""
    max_signature_bytes: StrictInt = 512 * 1024
    """Largest drawn signature (PNG)."""
    max_statement_chars: StrictInt = 20_000
    """Longest statement text (an MG11 of a few pages is ~12,000). Saves are JSON bodies, which
    the API caps at 64 KiB (control_plane.api.bodies): 20,000 characters of Urdu fit."""
