"""Error hierarchy for evidence handling.

Every error that concerns a specific artefact says *where* the problem is, so that an
examiner (or the CLI) can point at the segment, manifest field or custody entry.
"""

from __future__ import annotations


class EvidenceError(Exception):
    """Base class for every error raised by the recording package."""


class IntegrityError(EvidenceError):
    """Evidence does not match what was recorded when it was acquired or sealed.

    ``where`` names the failing artefact, e.g. ``"segment segment-00002.mp4"``,
    ``"manifest field 'crime_reference'"`` or ``"custody seq 3"``.
    """

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}")
        self.where = where
        self.message = message


class ObjectExistsError(EvidenceError):
    """A write-once object already exists; masters are never overwritten."""


class StoreUnavailableError(EvidenceError):
    """The evidence store could not be reached (down, restarting, network). Nothing was
    refused: the same write may be retried unchanged once it is back."""


class JustificationRequiredError(EvidenceError):
    """Access or a retention decision was attempted without a recorded justification."""


class AuthorisationError(EvidenceError):
    """The actor's role does not permit the requested operation."""


class RetentionError(EvidenceError):
    """A retention rule (legal hold, review date) forbids the requested operation."""


class RecorderError(EvidenceError):
    """The statement writer was misused or its output could not be produced."""


class KeyFileError(EvidenceError):
    """A signing key file is missing, malformed or has unsafe permissions."""
