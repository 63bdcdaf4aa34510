"""The ledger on its own: money conversion, ILP packets against the reference implementation, and
concurrency — several processes' worth of writers never spend the same headroom twice nor
commit a transfer twice (PostgreSQL row locks; SQLite's write lock)."""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import create_engine, func, select

from dpistack.core.platform import Platform
from dpistack.core.timeutil import utcnow
from dpistack.governance.models import Participant
from dpistack.payments import admin, ilp, ledger, money
from dpistack.payments.check import check
from dpistack.payments.models import Transfer



def test_money_is_converted_exactly_or_refused():
    assert money.to_minor("12.5", "USD") == 1250 and money.to_amount(1250, "USD") == "12.5"
    assert money.to_minor("7", "JPY") == 7 and money.to_minor("1.234", "BHD") == 1234
    assert money.to_amount(-1005, "USD") == "-10.05" and money.to_amount(100, "USD") == "1"
    for bad, currency in (("1.005", "USD"), ("1.5", "JPY"), ("1.50", "USD"), ("-1", "USD"), ("1", "XAU"),
                          ("1", "ZZZ")):
        with pytest.raises(money.MoneyError):
            money.to_minor(bad, currency)
    assert money.number_to_minor(0.1, "USD") == 10 and money.minor_to_number(10, "USD") == 0.1
    with pytest.raises(money.MoneyError):
        money.number_to_minor(0.001, "USD")


def test_ilp_packets_match_the_reference_implementation():
    # Vector produced with interledgerjs ilp-packet 2.2.0 (what Mojaloop's SDK pins for ILP v1)
    # and safe-stable-stringify for the Transaction, secret "secret".
    tx = {"amount": {"amount": "99", "currency": "USD"}, "expiration": "2030-01-01T00:00:00.000Z",
          "payee": {"partyIdInfo": {"fspId": "payeefsp", "partyIdType": "MSISDN", "partyIdentifier": "123456789"}},
          "payer": {"partyIdInfo": {"fspId": "payerfsp", "partyIdType": "MSISDN", "partyIdentifier": "987654321"}},
          "quoteId": "7c23e80c-d078-4077-8263-2c047876fcf6", "transactionId": "85feac2f-39b2-491b-817e-4a03203d4f14",
          "transactionType": {"initiator": "PAYER", "initiatorType": "CONSUMER", "scenario": "TRANSFER"}}
    packet = ilp.encode(9900, ilp.address("payeefsp", tx["payee"]["partyIdInfo"]), tx)
    assert packet.startswith("AYICngAAAAAAACasG2cucGF5ZWVmc3AubXNpc2RuLjEyMzQ1Njc4OYICdmV5")
    assert len(packet) == 899 and packet.endswith("UQA")
    fulfilment = ilp.fulfilment(b"secret", packet)
    assert fulfilment == "xcAEyu_MdsbgCz5QEQLsIhKbgptBGgXO5GGvK_wIFKE"
    assert ilp.condition(fulfilment) == "KUP1uflULrAjNl9wCat_nfqT-5V4OIKd8oXXhy_jSrY"
    decoded = ilp.decode(packet)
    assert (decoded.amount, decoded.address, decoded.transaction) == (9900, "g.payeefsp.msisdn.123456789", tx)
    # the API definition's own example pair (§10.4)
    assert ilp.condition("mhPUT9ZAwd-BXLfeSd7-YPh46rBWRNBiTCSWjpku90s") == "fH9pAYDQbmoZLPbvv3CSW2RfjU4jvM4ApG_fqGnR7Xs"
    assert ledger.fulfils(fulfilment, ilp.condition(fulfilment))
    assert not ledger.fulfils("xcAEyu_MdsbgCz5QEQLsIhKbgptBGgXO5GGvK_wIFKA", ilp.condition(fulfilment))
    with pytest.raises(ValueError):
        ilp.decode("AAAA")


def setup_ledger(platform: Platform, fsps: dict[str, int], currency: str = "USD") -> None:
    """FSPs with a cap and funds of ``fsps[name]`` minor units each (as the admin API would)."""
    with platform.db.uow(write=True) as s:
        for kind in ("HUB_MULTILATERAL_SETTLEMENT", "HUB_RECONCILIATION"):
            admin.create_hub_account(s, "Hub", currency, kind)
        for name, amount in fsps.items():
            s.add(Participant(id=name, name=name, kind="bank", roles=["fsp"], status="active", endpoints={}))
            s.flush()
            admin.create_participant(s, name, currency)
            admin.initial_position_and_limits(s, name, currency, {"type": "NET_DEBIT_CAP",
                                                                  "value": money.minor_to_number(amount, currency)}, 0)
            settlement = admin._account(s, name, currency, "SETTLEMENT")
            admin.record_funds(s, name, settlement.id, {
                "transferId": str(uuid.uuid4()), "externalReference": "x", "action": "recordFundsIn", "reason": "x",
                "amount": {"amount": money.to_amount(amount, currency), "currency": currency}})


def prepares(payer: str, payee: str, n: int, amount: int) -> list[tuple[ledger.Prepare, str]]:
    out = []
    for _ in range(n):
        fulfilment = ilp.b64url(uuid.uuid4().bytes * 2)
        out.append((ledger.Prepare(str(uuid.uuid4()), payer, payee, "USD", amount, ilp.condition(fulfilment),
                                   utcnow() + timedelta(minutes=5), "h" * 43), fulfilment))
    return out


def other_process(platform: Platform) -> Platform:
    """A second platform on the same database: what another worker or host is."""
    if platform.db.engine.dialect.name == "sqlite":
        return Platform.open(platform.settings)
    with platform.db.engine.connect() as c:
        search_path = c.exec_driver_sql("SHOW search_path").scalar()
    return Platform.open(platform.settings, engine=create_engine(
        platform.db.engine.url, connect_args={"options": f"-csearch_path={search_path}"}, pool_size=5))


def run_together(jobs) -> list:
    results, lock = [], threading.Lock()

    def run(p, fn, items):
        with p.db.uow(write=True) as s:
            out = fn(s, items, utcnow())
        with lock:
            results.extend(out)

    threads = [threading.Thread(target=run, args=job) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


def test_concurrent_writers_never_pass_the_cap_nor_commit_twice(platform):
    setup_ledger(platform, {"alpha": 10_000, "beta": 10_000})
    second = other_process(platform)
    try:
        batches = [prepares("alpha", "beta", 20, 100) for _ in range(12)]  # 24,000 asked for, 10,000 allowed
        outcomes = run_together([(platform if i % 2 else second, ledger.prepare, [p for p, _ in b])
                                 for i, b in enumerate(batches)])
        reserved = {o.transfer_id for o in outcomes if o.kind == "reserved"}
        assert len(reserved) == 100 and len(outcomes) == 240  # exactly the headroom; every command answered
        assert {o.error[0] for o in outcomes if o.kind == "aborted"} == {"4001"}

        # each reserved transfer fulfilled by two "processes" at once: committed once, the other told the state
        fulfils = [ledger.Fulfil(p.transfer_id, "beta", "alpha", "COMMITTED", f, "same-body")
                   for b in batches for p, f in b if p.transfer_id in reserved]
        results = run_together([(platform, ledger.commit, fulfils), (second, ledger.commit, fulfils)])
        kinds = [o.kind for o in results]
        assert kinds.count("committed") == 100 and kinds.count("resend") == 100
        with platform.db.uow() as s:
            states = dict(s.execute(select(Transfer.state, func.count()).group_by(Transfer.state)).all())
            position = admin._account(s, "alpha", "USD", "POSITION")
            assert (position.value, position.reserved) == (10_000, 0)
        assert states == {"COMMITTED": 100, "ABORTED": 140}
        assert check(platform) == []
    finally:
        second.close()


def test_a_batch_with_a_used_id_is_redone_the_careful_way(platform):
    """One id of a batch exists already: the fast INSERT fails inside its savepoint, which is
    rolled back, and the batch is done again knowing which; the rest of the batch and the
    transaction go on (on SQLite and on PostgreSQL, where a failed statement spoils the whole
    transaction unless its savepoint is rolled back)."""
    setup_ledger(platform, {"alpha": 10_000, "beta": 10_000})
    first = prepares("alpha", "beta", 3, 100)
    with platform.db.uow(write=True) as s:
        assert [o.kind for o in ledger.prepare(s, [p for p, _ in first], utcnow())] == ["reserved"] * 3
    again, fresh = first[1][0], prepares("alpha", "beta", 2, 100)
    modified = ledger.Prepare(first[2][0].transfer_id, "alpha", "beta", "USD", 999, first[2][0].condition,
                              first[2][0].expiration, "other-body")
    with platform.db.uow(write=True) as s:
        outcomes = ledger.prepare(s, [fresh[0][0], again, modified, fresh[1][0]], utcnow())
    assert [o.kind for o in outcomes] == ["reserved", "ignore", "refused", "reserved"]
    assert outcomes[2].error[0] == "3106"
    with platform.db.uow() as s:
        assert s.scalar(select(func.count()).select_from(Transfer)) == 5
        position = admin._account(s, "alpha", "USD", "POSITION")
        assert (position.value, position.reserved) == (0, 500)  # the duplicates reserved nothing more
    fulfils = [ledger.Fulfil(p.transfer_id, "beta", "alpha", "COMMITTED", f, "x") for p, f in first + fresh]
    with platform.db.uow(write=True) as s:
        assert [o.kind for o in ledger.commit(s, fulfils, utcnow())] == ["committed"] * 5
    assert check(platform) == []


def test_a_commit_whose_transaction_fails_is_not_remembered_as_done(platform):
    """The fast way judges transfers in the dicts it remembered from their prepare: when the
    transaction that wrote the commits rolls back, those must not be remembered as committed
    (the payee's retry would be answered "resend" for money that never moved)."""
    setup_ledger(platform, {"alpha": 10_000, "beta": 10_000})
    batch = prepares("alpha", "beta", 2, 100)
    with platform.db.uow(write=True) as s:
        ledger.prepare(s, [p for p, _ in batch], utcnow())
    fulfils = [ledger.Fulfil(p.transfer_id, "beta", "alpha", "COMMITTED", f, "x") for p, f in batch]
    with pytest.raises(RuntimeError):
        with platform.db.uow(write=True) as s:
            assert [o.kind for o in ledger.commit(s, fulfils, utcnow())] == ["committed"] * 2
            raise RuntimeError("the transaction fails after the ledger's writes")
    with platform.db.uow() as s:
        assert set(s.scalars(select(Transfer.state))) == {"RESERVED"}
        assert all(ledger.memory(s).get(f.transfer_id) is None for f in fulfils)
    with platform.db.uow(write=True) as s:  # the retry: committed now, the careful way
        assert [o.kind for o in ledger.commit(s, fulfils, utcnow())] == ["committed"] * 2
    with platform.db.uow() as s:
        assert set(s.scalars(select(Transfer.state))) == {"COMMITTED"}
    assert check(platform) == []


def test_dpi_payments_check_exits_non_zero_on_a_breach(sqlite_platform):
    from typer.testing import CliRunner
    from sqlalchemy import update

    from dpistack.cli import app
    from dpistack.payments.models import Account

    setup_ledger(sqlite_platform, {"alpha": 500})
    data_dir = str(sqlite_platform.settings.data_dir)
    ok = CliRunner().invoke(app, ["payments", "check", "--data-dir", data_dir])
    assert ok.exit_code == 0 and "all invariants hold" in ok.output
    with sqlite_platform.db.uow(write=True) as s:
        s.execute(update(Account).where(Account.type == "SETTLEMENT").values(value=Account.value - 1))
    bad = CliRunner().invoke(app, ["payments", "check", "--data-dir", data_dir])
    assert bad.exit_code == 1 and "BREACH" in bad.output and "SETTLEMENT" in bad.output


def _workload():
    """Commands that reach every branch of prepare and commit: fresh, duplicate and modified
    prepares, a prepare past the cap, and fulfils that commit, ask to be told (RESERVED), abort,
    carry a wrong fulfilment, come from the wrong FSP, repeat, or arrive after the expiry."""
    now = utcnow()
    fresh = prepares("alpha", "beta", 8, 100)
    late = prepares("alpha", "beta", 1, 100)[0]
    late[0].expiration = now + timedelta(seconds=1)
    over_cap = prepares("alpha", "beta", 1, 10_000)[0]
    first = [p for p, _ in fresh] + [late[0], over_cap[0]]
    again = [fresh[0][0], ledger.Prepare(fresh[1][0].transfer_id, "alpha", "beta", "USD", 999, fresh[1][0].condition,
                                         fresh[1][0].expiration, "other-body")]
    (p0, f0), (p1, f1), (p2, f2), (p3, _), (p4, f4), (p5, f5) = fresh[:6]
    fulfils = [ledger.Fulfil(p0.transfer_id, "beta", "alpha", "COMMITTED", f0, "c0"),
               ledger.Fulfil(p1.transfer_id, "beta", "alpha", "RESERVED", f1, "c1"),
               ledger.Fulfil(p2.transfer_id, "beta", None, "ABORTED", None, "c2"),
               ledger.Fulfil(p3.transfer_id, "beta", "alpha", "COMMITTED", f0, "c3"),  # not its fulfilment
               ledger.Fulfil(p4.transfer_id, "alpha", "beta", "COMMITTED", f4, "c4"),  # not the payee
               ledger.Fulfil(late[0].transfer_id, "beta", "alpha", "COMMITTED", late[1], "c5")]
    repeats = [ledger.Fulfil(p0.transfer_id, "beta", "alpha", "COMMITTED", f0, "c0"),
               ledger.Fulfil(p5.transfer_id, "beta", "alpha", "COMMITTED", f5, "c6")]
    return now, [(ledger.prepare, first, now), (ledger.prepare, again, now),
                 (ledger.commit, fulfils, now + timedelta(seconds=2)), (ledger.commit, repeats, now + timedelta(seconds=2))]


def test_the_fast_and_the_careful_way_give_the_same_answers(tmp_path):
    """The ledger's fast way (facts remembered from the prepare, one strict UPDATE) and its careful
    way (every row read under lock) must agree on every outcome and on every row they leave."""
    from dpistack.core.config import Settings

    now, steps = _workload()
    results = {}
    for way in ("fast", "careful"):
        platform = Platform.open(Settings(data_dir=tmp_path / way, public_url="http://testserver"))
        try:
            setup_ledger(platform, {"alpha": 5_000, "beta": 5_000})
            answers, remembered = [], 0
            for fn, items, at in steps:
                with platform.db.uow(write=True) as s:
                    if fn is ledger.commit:
                        memory = ledger.memory(s)
                        if way == "careful":
                            memory.forget([f.transfer_id for f in items])
                        remembered += sum(memory.get(f.transfer_id) is not None for f in items)
                    answers += [(o.kind, o.transfer_id, o.error, o.notify_payee,
                                 o.transfer and (o.transfer["state"], o.transfer["reason"])) for o in fn(s, items, at)]
            with platform.db.uow() as s:
                rows = sorted(tuple(r) for r in s.execute(select(
                    Transfer.id, Transfer.state, Transfer.reason, Transfer.fulfilment, Transfer.fulfil_hash,
                    Transfer.payee_reserved, Transfer.window_id, Transfer.amount)))
                position = admin._account(s, "alpha", "USD", "POSITION")
                results[way] = answers, rows, (position.value, position.reserved), remembered
            assert check(platform) == []
        finally:
            platform.close()
    fast, careful = results["fast"], results["careful"]
    assert fast[3] > 0 and careful[3] == 0  # the fast run did use what it remembered; the careful one could not
    assert fast[:3] == careful[:3]
    kinds = [a[0] for a in fast[0]]
    assert kinds.count("committed") == 3 and "resend" in kinds and ("refused" in kinds and "aborted" in kinds)
    assert fast[2] == (300, 300)  # three commits of 100; three reservations still live (p4's, and two never fulfilled)


def test_a_batch_of_many_pairs_moves_each_position_by_its_own_transfers(sqlite_platform):
    """Checks and commits are grouped by (payer, payee, currency) inside a batch: a batch mixing
    pairs, one of them to an FSP that is not active and one payer that runs out of headroom,
    must still leave each position exactly the sum of its own transfers."""
    platform = sqlite_platform
    setup_ledger(platform, {"a": 1_000, "b": 1_000, "c": 250, "off": 1_000})
    with platform.db.uow(write=True) as s:
        s.get(ledger.SwitchParticipant, "off").is_active = False
    batch = (prepares("a", "b", 3, 100) + prepares("b", "c", 2, 50) + prepares("c", "a", 3, 100)
             + prepares("a", "off", 1, 10) + prepares("b", "a", 1, 70))
    with platform.db.uow(write=True) as s:
        outcomes = ledger.prepare(s, [p for p, _ in batch], utcnow())
    kinds = [o.kind for o in outcomes]
    # c has 250 of headroom: its third prepare of 100 is refused; nobody may pay an inactive FSP
    assert kinds == ["reserved"] * 7 + ["aborted", "aborted", "reserved"]
    assert outcomes[7].error[0] == ledger.PAYER_LIQUIDITY and outcomes[8].error[0] == ledger.GENERIC_VALIDATION
    answers = [ledger.Fulfil(p.transfer_id, p.payee, p.payer, "RESERVED" if i % 2 else "COMMITTED", f, f"h{i}")
               for i, ((p, f), o) in enumerate(zip(batch, outcomes)) if o.kind == "reserved"]
    with platform.db.uow(write=True) as s:
        assert [o.kind for o in ledger.commit(s, answers, utcnow())] == ["committed"] * 8
    with platform.db.uow() as s:
        positions = {n: admin._account(s, n, "USD", "POSITION") for n in ("a", "b", "c")}
        assert {n: (p.value, p.reserved) for n, p in positions.items()} == {
            "a": (300 - 200 - 70, 0), "b": (100 + 70 - 300, 0), "c": (200 - 100, 0)}
        told = dict(s.execute(select(Transfer.fulfil_hash, Transfer.payee_reserved)
                              .where(Transfer.state == "COMMITTED")).all())
        assert told == {f"h{i}": i % 2 for i in (0, 1, 2, 3, 4, 5, 6, 9)}
    assert check(platform) == []
