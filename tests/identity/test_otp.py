"""OTPs: delivered through the notification adapter, hashed at rest, single-use, expiring,
burned after too many wrong codes, bound to one relying party and transaction."""

from __future__ import annotations

import re
import stat
from datetime import timedelta

import pytest
from sqlalchemy import select

from dpistack.core.timeutil import utcnow
from dpistack.identity import otp
from dpistack.identity.interfaces import NotificationChannel, OutboxChannel
from dpistack.identity.models import OneTimePassword

KEY = bytes(range(32))
UIN = "2345678904"


@pytest.fixture
def outbox(tmp_path):
    return OutboxChannel(tmp_path / "outbox", "sms")


def send(platform, outbox, transaction="txn-1", partner="bank-app") -> str:
    with platform.db.uow(write=True) as s:
        otp.issue(s, key=KEY, uin=UIN, partner_id=partner, transaction_id=transaction, channel=outbox,
                  to="+254700000001")
    return re.search(r"\b(\d{6})\b", outbox.messages("+254700000001")[-1]["message"]).group(1)


def check(platform, code, transaction="txn-1", partner="bank-app") -> bool:
    with platform.db.uow(write=True) as s:
        return otp.verify(s, key=KEY, uin=UIN, partner_id=partner, transaction_id=transaction, code=code)


def test_the_outbox_is_a_notification_channel_with_private_files(outbox):
    assert isinstance(outbox, NotificationChannel)
    outbox.send("+1555000", "hello")
    assert outbox.messages("+1555000")[0]["message"] == "hello"
    assert stat.S_IMODE(outbox.path.stat().st_mode) == 0o600


def test_a_code_works_once_and_only_its_hash_is_stored(platform, outbox):
    code = send(platform, outbox)
    with platform.db.uow() as s:
        row = s.scalars(select(OneTimePassword)).one()
    assert code not in row.code_hash and UIN not in row.subject
    assert check(platform, code)
    assert not check(platform, code)  # single use


def test_wrong_codes_burn_the_otp(platform, outbox):
    code = send(platform, outbox)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for _ in range(otp.OtpPolicy().max_attempts):
        assert not check(platform, wrong)
    assert not check(platform, code)  # too late: burned after three wrong tries


def test_expired_codes_fail(platform, outbox):
    code = send(platform, outbox)
    with platform.db.uow(write=True) as s:
        s.scalars(select(OneTimePassword)).one().expires_at = utcnow() - timedelta(seconds=1)
    assert not check(platform, code)


def test_codes_are_bound_to_partner_and_transaction_and_replaced_by_a_new_one(platform, outbox):
    code = send(platform, outbox)
    assert not check(platform, code, partner="other-app")
    assert not check(platform, code, transaction="txn-2")
    newer = send(platform, outbox)
    if newer != code:
        assert not check(platform, code)  # the earlier code stopped working
    assert check(platform, newer)
    assert not check(platform, None)
