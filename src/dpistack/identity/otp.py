"""One-time passwords for authentication: issued per (person, relying party, transaction),
delivered through a ``NotificationChannel``, stored only as a keyed hash, expiring,
single-use, burned after ``max_attempts`` wrong codes, compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from dpistack.core.crypto import blind_index, constant_time_equal
from dpistack.core.timeutil import as_utc, utcnow
from dpistack.identity.interfaces import NotificationChannel
from dpistack.identity.models import OneTimePassword


@dataclass(frozen=True)
class OtpPolicy:
    digits: int = 6
    ttl_seconds: int = 180
    max_attempts: int = 3


def _hash(key: bytes, otp_id: str, code: str) -> str:
    return hmac.new(key, f"{otp_id}\x00{code}".encode(), hashlib.sha256).hexdigest()


def issue(session: Session, *, key: bytes, uin: str, partner_id: str, transaction_id: str,
          channel: NotificationChannel, to: str, policy: OtpPolicy = OtpPolicy()) -> OneTimePassword:
    """Create an OTP and send it; earlier unused OTPs of the same transaction stop working."""
    subject = blind_index(key, uin, purpose="otp")
    for older in session.scalars(select(OneTimePassword).where(
            OneTimePassword.subject == subject, OneTimePassword.partner_id == partner_id,
            OneTimePassword.transaction_id == transaction_id, OneTimePassword.used_at.is_(None))):
        older.used_at = utcnow()
    code = f"{secrets.randbelow(10 ** policy.digits):0{policy.digits}d}"
    otp_id = str(uuid.uuid4())
    row = OneTimePassword(id=otp_id, subject=subject, partner_id=partner_id, transaction_id=transaction_id,
                          code_hash=_hash(key, otp_id, code), attempts=0,
                          expires_at=utcnow() + timedelta(seconds=policy.ttl_seconds))
    session.add(row)
    session.flush()
    channel.send(to, f"Your one-time code is {code}. It expires in {policy.ttl_seconds // 60} minutes. "
                     "Never share it.")
    return row


def verify(session: Session, *, key: bytes, uin: str, partner_id: str, transaction_id: str, code: str,
           policy: OtpPolicy = OtpPolicy()) -> bool:
    """True once for the right, unexpired code. Wrong tries count (the caller must commit)."""
    subject = blind_index(key, uin, purpose="otp")
    row = session.scalars(
        select(OneTimePassword)
        .where(OneTimePassword.subject == subject, OneTimePassword.partner_id == partner_id,
               OneTimePassword.transaction_id == transaction_id, OneTimePassword.used_at.is_(None))
        .order_by(OneTimePassword.created_at.desc())
        .limit(1)
        .with_for_update()
    ).first()
    if row is None:
        return False
    now = utcnow()
    if as_utc(row.expires_at) <= now:
        row.used_at = now
        return False
    row.attempts += 1
    if isinstance(code, str) and constant_time_equal(_hash(key, row.id, code), row.code_hash):
        row.used_at = now
        return True
    if row.attempts >= policy.max_attempts:
        row.used_at = now  # burned: a new OTP must be requested
    return False
