"""Consent errors, each carrying its facts (problem+json through the core's handlers)."""

from dpistack.core.errors import Conflict, Forbidden, NotFound, Problem, Unauthorized


class UnknownConsent(NotFound):
    def __init__(self, consent_id: str):
        super().__init__(f"No consent {consent_id!r} that you are party to.", consent_id=consent_id)


class WrongStatus(Conflict):
    def __init__(self, consent_id: str, status: str, wanted: str):
        super().__init__(f"Consent {consent_id} is {status}; it can be {wanted} only when it is "
                         f"{'REQUESTED' if wanted in ('approved', 'rejected') else 'ACTIVE'}.",
                         consent_id=consent_id, consent_status=status)


class NotYours(Forbidden):
    def __init__(self, consent_id: str):
        super().__init__(f"Consent {consent_id} is another person's.", consent_id=consent_id)


class NotAParty(Forbidden):
    def __init__(self, participant_id: str):
        super().__init__(f"{participant_id} may only check consents in which it is the data consumer.",
                         participant_id=participant_id)


class InvalidConsent(Problem):
    status = 422
    title = "Invalid consent request"


class PersonTokenInvalid(Unauthorized):
    pass
