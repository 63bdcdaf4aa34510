"""``dpi payments check``: the ledger's invariants, recomputed from the rows (and the log).

1. Per currency, all accounts sum to zero (double entry).
2. Every transfer is in exactly one state: COMMITTED or ABORTED, or RESERVED and not expired
   (beyond a grace for the expiry sweep); a final transfer has its completion time.
3. Every account equals the sum of what moved it: a position is the committed transfers it paid
   minus those it received plus its journal legs; its reservation is the amount of its live
   transfers; settlement and hub accounts are their journal legs; a settlement account's
   reservation is its funds out in flight.
4. Journal legs sum to zero per reference; each settlement's net amounts sum to zero per
   currency.
5. The transparency log holds every committed transfer once, with its FSPs, currency and amount.
6. Each settlement window's totals per FSP and currency are its committed transfers' sums.
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import timedelta

from sqlalchemy import func, select

from dpistack.core.platform import Platform
from dpistack.core.timeutil import utcnow
from dpistack.payments import money
from dpistack.payments.ledger import us
from dpistack.payments.models import (Account, FundsTransfer, JournalEntry, SettlementAccount, Transfer,
                                      WindowPosition)
from dpistack.transparency.models import LogEntry

EXPIRY_GRACE = timedelta(seconds=30)


def check(platform: Platform) -> list[str]:
    problems: list[str] = []
    with platform.db.uow() as s:
        accounts = {a.id: a for a in s.scalars(select(Account))}
        totals: dict[str, int] = defaultdict(int)
        for a in accounts.values():
            totals[a.currency] += a.value
        problems += [f"{c}: the accounts sum to {money.to_amount(t, c)}, not 0" for c, t in totals.items() if t]

        expected = defaultdict(int)
        reserved = defaultdict(int)
        position_of = {(a.participant, a.currency): a.id for a in accounts.values() if a.type == "POSITION"}
        states = dict(s.execute(select(Transfer.state, func.count()).group_by(Transfer.state)).all())
        stray = set(states) - {"RESERVED", "COMMITTED", "ABORTED"}
        problems += [f"{states[x]} transfer(s) in unknown state {x!r}" for x in stray]
        for who, sign in ((Transfer.payer, 1), (Transfer.payee, -1)):
            for name, currency, total in s.execute(select(who, Transfer.currency, func.sum(Transfer.amount)).where(
                    Transfer.state == "COMMITTED").group_by(who, Transfer.currency)):
                expected[position_of.get((name, currency))] += sign * int(total)
        for name, currency, total in s.execute(select(Transfer.payer, Transfer.currency, func.sum(Transfer.amount))
                                               .where(Transfer.state == "RESERVED")
                                               .group_by(Transfer.payer, Transfer.currency)):
            reserved[position_of.get((name, currency))] += int(total)
        late = s.scalar(select(func.count()).where(Transfer.state == "RESERVED",
                                                    Transfer.expiration < us(utcnow() - EXPIRY_GRACE)))
        if late:
            problems.append(f"{late} reservation(s) left past their expiry")
        unfinished = s.scalar(select(func.count()).where(Transfer.state != "RESERVED", Transfer.completed_at.is_(None)))
        if unfinished:
            problems.append(f"{unfinished} final transfer(s) without a completion time")
        if None in expected or None in reserved:
            problems.append("transfers name an FSP or currency with no position account")

        for account_id, total in s.execute(select(JournalEntry.account_id, func.sum(JournalEntry.amount))
                                           .group_by(JournalEntry.account_id)):
            expected[account_id] += int(total)
        for account_id, total in s.execute(select(FundsTransfer.account_id, func.sum(FundsTransfer.amount)).where(
                FundsTransfer.state == "RESERVED").group_by(FundsTransfer.account_id)):
            reserved[account_id] += int(total)
        for a in accounts.values():
            if a.value != expected.get(a.id, 0):
                problems.append(f"{a.participant} {a.currency} {a.type}: value {money.to_amount(a.value, a.currency)} "
                                f"but its movements sum to {money.to_amount(expected.get(a.id, 0), a.currency)}")
            if a.reserved != reserved.get(a.id, 0):
                problems.append(f"{a.participant} {a.currency} {a.type}: reserved "
                                f"{money.to_amount(a.reserved, a.currency)} but live reservations sum to "
                                f"{money.to_amount(reserved.get(a.id, 0), a.currency)}")

        for reference, total in s.execute(select(JournalEntry.reference, func.sum(JournalEntry.amount))
                                          .group_by(JournalEntry.reference).having(func.sum(JournalEntry.amount) != 0)):
            problems.append(f"journal {reference}: legs sum to {total}, not 0")
        for settlement_id, currency, total in s.execute(
                select(SettlementAccount.settlement_id, SettlementAccount.currency, func.sum(SettlementAccount.net_amount))
                .group_by(SettlementAccount.settlement_id, SettlementAccount.currency)):
            if int(total):
                problems.append(f"settlement {settlement_id} {currency}: net amounts sum to {total}, not 0")

        problems += _window_totals(s)
        problems += _logged_transfers(s)
    return problems


def _window_totals(s) -> list[str]:
    """The running totals of each window equal what its committed transfers sum to."""
    recomputed: dict[tuple, list[int]] = defaultdict(lambda: [0, 0, 0])
    for who, column in ((Transfer.payer, 0), (Transfer.payee, 1)):
        for window, name, currency, total, n in s.execute(
                select(Transfer.window_id, who, Transfer.currency, func.sum(Transfer.amount), func.count())
                .where(Transfer.state == "COMMITTED").group_by(Transfer.window_id, who, Transfer.currency)):
            recomputed[(window, name, currency)][column] += int(total)
            if column == 0:
                recomputed[(window, name, currency)][2] += n
    kept = {(w.window_id, w.participant, w.currency): [w.sent, w.received, w.sent_count]
            for w in s.scalars(select(WindowPosition))}
    return [f"window {key[0]} {key[1]} {key[2]}: totals (sent, received, transfers) {kept.get(key, [0, 0, 0])} "
            f"but its transfers sum to {recomputed.get(key, [0, 0, 0])}"
            for key in sorted(set(recomputed) | set(kept), key=str) if kept.get(key) != recomputed.get(key)]


def _logged_transfers(s) -> list[str]:
    """Every committed transfer is in the log, once, as the ledger has it."""
    logged: dict[str, tuple] = {}
    twice = 0
    last = -1
    while True:
        rows = s.execute(select(LogEntry.idx, LogEntry.entry).where(LogEntry.idx > last)
                         .order_by(LogEntry.idx).limit(20_000)).all()
        if not rows:
            break
        last = rows[-1].idx
        for _, blob in rows:
            if b'"payments.transfers.committed"' not in blob:
                continue
            for tid, payer, payee, currency, amount, window in json.loads(blob)["transfers"]:
                twice += tid in logged
                logged[tid] = (payer, payee, currency, money.to_minor(amount, currency) if amount != "0" else 0, window)
    problems = [f"{twice} committed transfer(s) logged more than once"] if twice else []
    missing = wrong = 0
    for t in s.execute(select(Transfer.id, Transfer.payer, Transfer.payee, Transfer.currency, Transfer.amount,
                              Transfer.window_id).where(Transfer.state == "COMMITTED")).yield_per(20_000):
        entry = logged.pop(t.id, None)
        if entry is None:
            missing += 1
        elif entry != (t.payer, t.payee, t.currency, t.amount, t.window_id):
            wrong += 1
    if missing:
        problems.append(f"{missing} committed transfer(s) missing from the transparency log")
    if wrong:
        problems.append(f"{wrong} committed transfer(s) logged differently from the ledger")
    if logged:
        problems.append(f"{len(logged)} transfer(s) logged as committed that the ledger does not hold committed")
    return problems
