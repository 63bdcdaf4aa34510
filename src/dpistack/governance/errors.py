"""Governance errors, each carrying its facts; ``api.py`` maps them to problem+json."""

from dpistack.core.errors import Conflict, Forbidden, NotFound, Problem


class UnknownParticipant(NotFound):
    def __init__(self, participant_id: str):
        super().__init__(f"No participant {participant_id!r}.", participant_id=participant_id)


class UnknownProposal(NotFound):
    def __init__(self, proposal_id: str):
        super().__init__(f"No proposal {proposal_id!r}.", proposal_id=proposal_id)


class InvalidProposal(Problem):
    status = 422
    title = "Invalid proposal"


class ParticipantExists(Conflict):
    def __init__(self, participant_id: str):
        super().__init__(f"Participant {participant_id!r} already exists.", participant_id=participant_id)


class ProposalClosed(Conflict):
    def __init__(self, proposal_id: str, status: str):
        super().__init__(
            f"Proposal {proposal_id} is already {status}; it takes no more approvals.",
            proposal_id=proposal_id,
            proposal_status=status,
        )


class AlreadyDecided(Conflict):
    def __init__(self, proposal_id: str, approver_id: str):
        super().__init__(
            f"{approver_id} has already decided on proposal {proposal_id}.",
            proposal_id=proposal_id,
            approver=approver_id,
        )


class InvalidApproval(Problem):
    status = 422
    title = "Invalid approval"


class NotAnApprover(Forbidden):
    def __init__(self, approver_id: str, required: list[str]):
        super().__init__(
            f"{approver_id}'s approval is not one this proposal needs (it needs: {', '.join(required)}).",
            approver=approver_id,
            required=required,
        )


class AccessDenied(Forbidden):
    def __init__(self, participant_id: str, action: str):
        super().__init__(
            f"Policy does not permit {participant_id} to {action}.", participant_id=participant_id, action=action
        )
