"""Catalogue errors (problem+json through the core's handlers)."""

from dpistack.core.errors import Forbidden, NotFound


class UnknownService(NotFound):
    def __init__(self, service_id: str):
        super().__init__(f"No public service {service_id!r} in the catalogue.", service_id=service_id)


class NotThePublisher(Forbidden):
    def __init__(self, service_id: str, publisher: str):
        super().__init__(f"Service {service_id} is published by {publisher}; only that institution may change it.",
                         service_id=service_id, publisher=publisher)
