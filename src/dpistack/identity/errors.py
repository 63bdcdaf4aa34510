"""Identity errors, each with its facts; mapped once to problem+json."""

from dpistack.core.errors import Conflict, NotFound, Problem


class UnknownEnrolment(NotFound):
    def __init__(self, enrolment_id: str):
        super().__init__(f"No enrolment {enrolment_id!r} visible to you.", enrolment_id=enrolment_id)


class UnknownParent(Problem):
    status = 422
    title = "Unknown parent"

    def __init__(self, uin: str):
        super().__init__("A parent UIN is not a valid, issued UIN.")


class NotUnderReview(Conflict):
    def __init__(self, enrolment_id: str, status: str):
        super().__init__(f"Enrolment {enrolment_id} is {status}, not under review.", enrolment_status=status)


class RequestIdReused(Conflict):
    def __init__(self, request_id: str):
        super().__init__(
            f"request_id {request_id!r} was already used for a different enrolment.", request_id=request_id
        )


class UnknownPerson(Problem):
    status = 422
    title = "Unknown person"

    def __init__(self):
        super().__init__("duplicate_of must be the UIN of an enrolled person.")


class UnknownVid(NotFound):
    def __init__(self):
        super().__init__("No such VID (or UIN) visible to you.")


class RateLimited(Problem):
    status = 429
    title = "Too many requests"

    def __init__(self, what: str, retry_after: int):
        super().__init__(f"Too many {what} from this relying party; retry after {retry_after} s.",
                         retry_after=retry_after)
        self.headers = {"Retry-After": str(retry_after)}
