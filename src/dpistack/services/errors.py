"""Catalogue errors (problem+json through the core's handlers)."""

from dpistack.core.errors import Forbidden, NotFound, Problem


class UnknownService(NotFound):
    def __init__(self, service_id: str):
        super().__init__(f"No public service {service_id!r} in the catalogue.", service_id=service_id)


class NotThePublisher(Forbidden):
    def __init__(self, service_id: str, publisher: str):
        super().__init__(f"Service {service_id} is published by {publisher}; only that institution may change it.",
                         service_id=service_id, publisher=publisher)


class NoOnlineForm(NotFound):
    def __init__(self, service_id: str):
        super().__init__(f"Service {service_id} has no online form.", service_id=service_id)


class InvalidAnswers(Problem):
    status = 422
    title = "Unprocessable entity"

    def __init__(self, problems: dict[str, str], bad_sources: list[str]):
        parts = [f"{field}: {problem}" for field, problem in sorted(problems.items())]
        parts += [f"{field}: not a source of this form" for field in bad_sources]
        super().__init__("The answers do not fit the service's form (" + "; ".join(parts) + ").",
                         problems=problems, bad_sources=bad_sources)


class UnknownApplication(NotFound):
    def __init__(self, reference: str):
        super().__init__(f"No application {reference!r} was sent to you.", reference=reference)
