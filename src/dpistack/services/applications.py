"""Applications sent through a service's online form: the answers checked against the form the
catalogue holds for it, sealed at rest (AES-GCM), kept for the institution that publishes the
service, and logged in the transparency log as that institution's access to the person's data
(so it is in the person's data tracker), all in one transaction. A resent form (the same
``request_id`` from the same front office) returns the application it made the first time."""

from __future__ import annotations

import re
import secrets
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from dpistack.core.crypto import FieldCipher
from dpistack.core.timeutil import utcnow
from dpistack.services.errors import InvalidAnswers, NoOnlineForm, UnknownApplication, UnknownService
from dpistack.services.models import Application, PublicService
from dpistack.services.schemas import IDENTITY, ApplicationIn
from dpistack.transparency import service as tlog

REFERENCE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read out over the phone
NUMBER = re.compile(r"^[0-9]{1,9}$")
LEGAL_BASIS = "the person's own application"


def check_answers(form: dict, answers: dict[str, str]) -> dict[str, str]:
    """{field: problem} for the answers that do not fit the form (empty: all fit). Problems are
    codes: ``required``, ``too_long``, ``date``, ``number``, ``unknown``."""
    fields = {f["name"]: f for f in form["fields"]}
    problems = {name: "unknown" for name in answers if name not in fields}
    for name, f in fields.items():
        value = (answers.get(name) or "").strip()
        if not value:
            if f.get("required", True):
                problems[name] = "required"
            continue
        if len(value) > f.get("max_length", 200):
            problems[name] = "too_long"
        elif f.get("type") == "date":
            try:
                date.fromisoformat(value)
                if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value):
                    raise ValueError
            except ValueError:
                problems[name] = "date"
        elif f.get("type") == "number" and not NUMBER.match(value):
            problems[name] = "number"
    return problems


def _reference(service_id: str) -> str:
    prefix = "".join(part[0] for part in service_id.split("-")[:3]).upper()
    return f"{prefix}-" + "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(8))


def _view(row: Application) -> dict[str, Any]:
    return {"reference": row.reference, "service_id": row.service_id, "publisher": row.publisher,
            "received_at": row.created_at.isoformat(), "prefilled": row.sources, "lang": row.lang}


def submit(session: Session, platform, submitted_by: str, body: ApplicationIn) -> tuple[dict, bool]:
    """Keep an application and log it. (view, created?) Raises UnknownService, NoOnlineForm,
    InvalidAnswers."""
    existing = session.scalars(select(Application).where(Application.submitted_by == submitted_by,
                                                         Application.request_id == body.request_id)).first()
    if existing is not None:
        return _view(existing), False
    service = session.get(PublicService, body.service_id)
    if service is None:
        raise UnknownService(body.service_id)
    if not service.form:
        raise NoOnlineForm(body.service_id)
    answers = {k: v.strip() for k, v in body.answers.items()}
    problems = check_answers(service.form, answers)
    known = {f["name"] for f in service.form["fields"]}
    sources = set(service.form.get("sources", {})) | {IDENTITY}
    bad_sources = {k for k, v in body.sources.items() if k not in known or v not in sources}
    if problems or bad_sources:
        raise InvalidAnswers(problems, sorted(bad_sources))
    subject = tlog.pseudonym(platform.keys.derived_secret("transparency:pseudonym"), body.data_subject)
    reference = _reference(service.id)
    while session.get(Application, reference) is not None:  # 32^8: practically never
        reference = _reference(service.id)
    cipher = FieldCipher(platform.keys.derived_secret("services:applications"))
    row = Application(reference=reference, service_id=service.id, publisher=service.publisher, subject=subject,
                      answers=cipher.encrypt({k: v for k, v in answers.items() if v}, record=reference,
                                             field="answers"),
                      sources=dict(sorted(body.sources.items())), lang=body.lang, submitted_by=submitted_by,
                      request_id=body.request_id, form_revision=service.revision, created_at=utcnow())
    session.add(row)
    session.flush()
    tlog.append(session, tlog.access_entry(
        subject_pseudonym=subject, accessor=service.publisher, categories=[f"application:{service.id}"],
        purpose=f"application {reference} for {service.id}, sent by the person through {submitted_by}",
        legal_basis=LEGAL_BASIS))
    return _view(row), True


def answers_of(platform, row: Application) -> dict[str, str]:
    cipher = FieldCipher(platform.keys.derived_secret("services:applications"))
    return cipher.decrypt(row.answers, record=row.reference, field="answers")


def received(session: Session, publisher: str, service_id: str | None, limit: int) -> list[dict[str, Any]]:
    """The applications an institution received (newest first), without their answers."""
    q = select(Application).where(Application.publisher == publisher)
    if service_id:
        q = q.where(Application.service_id == service_id)
    return [_view(row) for row in session.scalars(q.order_by(Application.created_at.desc()).limit(limit))]


def open_application(session: Session, platform, publisher: str, reference: str) -> dict[str, Any]:
    """One application with its answers, for the institution it was sent to; the reading is
    logged in the transparency log (in the person's data tracker). Raises UnknownApplication
    (also for another institution's: it does not learn that the reference exists)."""
    row = session.get(Application, reference)
    if row is None or row.publisher != publisher:
        raise UnknownApplication(reference)
    tlog.append(session, tlog.access_entry(
        subject_pseudonym=row.subject, accessor=publisher, categories=[f"application:{row.service_id}"],
        purpose=f"application {reference} for {row.service_id} read by the institution", legal_basis=LEGAL_BASIS))
    return {**_view(row), "answers": answers_of(platform, row)}
