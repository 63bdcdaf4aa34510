"""Enrolment with deduplication through the database, against a bulk-loaded population.

Goal (issue #3): enrolment with deduplication against 1,000,000 enrolled people, p95 <= 50 ms.

Enrolling a million people one by one through ``service.enrol`` would take hours, so the
population of :mod:`dpistack.bench.identity_matching` is bulk-loaded with the rows ``enrol``
writes for an issued person: the enrolment (status ``issued``, sealed demographics, request
digest), the person (demographics sealed under its UIN), its blind-indexed blocking keys and
its transparency-log entry. The smoke test re-enrols exact copies of loaded people and
expects ``duplicate``, which fails if the loader and the service drift apart.

Then ``enrolments`` fresh enrolments go through ``service.enrol`` exactly as the API calls
it, one write transaction each (commit included): half re-enrol a loaded person with one or
two changes (spelling, script, swapped names or date parts, a typo, ...), half are new people.
"""

from __future__ import annotations

import hashlib
import hmac
import random
import time
import uuid
from collections import Counter

import rfc8785
from rich.console import Console
from rich.progress import Progress
from sqlalchemy import insert

from dpistack.bench import identity_matching as population
from dpistack.core.crypto import blind_index
from dpistack.core.platform import Platform
from dpistack.core.timeutil import utcnow
from dpistack.identity import auth_state, matching, numbers, service
from dpistack.identity.models import BlockingKey, Enrolment, Person
from dpistack.identity.schemas import EnrolmentIn
from dpistack.transparency import service as tlog

SUBMITTED_BY = "bench-registry"
BATCH = 5000  # people per load transaction
EXACT_COPIES = 5  # loaded people re-enrolled unchanged before the timed run
_SEX = {"M": "male", "F": "female"}


def enrolment_request(demo: matching.Demographics, parent_uins: dict[str, str], number: int) -> EnrolmentIn:
    """The API request that enrols ``demo``; the generator's family tags become parents' UINs."""
    return EnrolmentIn(
        names=[{"language": n.language, "given": n.given, "family": n.family} for n in demo.names],
        birth_date=demo.birth_date,
        sex=_SEX[demo.sex],
        birth_place=demo.birth_place,
        address=f"{number % 997 + 1} Station Road",
        phone=f"+2547{number % 10**8:08d}",
        parents=[parent_uins[tag] for tag in demo.parents],
    )


def _loaded(rows: list[population.Row], parent_uins: dict[str, str], i: int) -> EnrolmentIn:
    return enrolment_request(population._demographics(rows[i]), parent_uins, i)


def _unique_uins(n: int) -> list[str]:
    """n distinct UINs drawn as ``enrol`` draws them (the 10-digit space holds ~59 million)."""
    seen: dict[str, None] = {}
    while len(seen) < n:
        seen.update(dict.fromkeys(numbers.generate_uins(n - len(seen))))
    return list(seen)


def load(platform: Platform, ctx: service.IdentityContext, rows: list[population.Row], uins: list[str],
         parent_uins: dict[str, str], console: Console) -> None:
    """Write, in batches, the rows ``service.enrol`` writes when it issues ``uins[i]`` to ``rows[i]``."""
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("loading people", total=len(rows))
        for start in range(0, len(rows), BATCH):
            now = utcnow()
            enrolments, persons, keys, entries = [], [], [], []
            for i in range(start, min(start + BATCH, len(rows))):
                uin = uins[i]
                data = _loaded(rows, parent_uins, i).model_dump(mode="json", exclude={"request_id"})
                enrolment_id = str(uuid.uuid4())
                enrolments.append({
                    "id": enrolment_id, "submitted_by": SUBMITTED_BY, "request_id": None,
                    "request_digest": hmac.new(ctx.digest_key, rfc8785.dumps(data), hashlib.sha256).hexdigest(),
                    "status": "issued", "demographics": ctx.cipher.encrypt_fields(data, record=enrolment_id),
                    "uin": uin, "duplicate_of": None, "candidates": [], "reason": None,
                    "created_at": now, "decided_at": now, "decided_by": "deduplication",
                })
                persons.append({"uin": uin, "enrolment_id": enrolment_id, "status": "active", "created_at": now,
                                "demographics": ctx.cipher.encrypt_fields(data, record=uin),
                                "auth_facts": auth_state.facts_of(ctx.index_key, data)})
                keys.extend({"key": blind_index(ctx.index_key, k, purpose="dedup"), "uin": uin}
                            for k in sorted(matching.blocking_keys(matching.Demographics.from_dict(data))))
                entries.append(tlog.access_entry(
                    subject_pseudonym=ctx.pseudonym(uin), accessor=SUBMITTED_BY, categories=["demographics"],
                    purpose="enrolment: issued", legal_basis=service.LEGAL_BASIS))
            with platform.db.uow(write=True) as session:
                session.execute(insert(Enrolment), enrolments)
                session.execute(insert(Person), persons)
                session.execute(insert(BlockingKey), keys)
                tlog.append_many(session, entries)
            progress.advance(task, len(persons))


def _enrol(platform: Platform, ctx: service.IdentityContext, request: EnrolmentIn) -> tuple[Enrolment, float]:
    started = time.perf_counter()
    with platform.db.uow(write=True) as session:
        enrolment = service.enrol(session, ctx, SUBMITTED_BY, request)
    return enrolment, (time.perf_counter() - started) * 1000


def measure(platform: Platform, console: Console, people: int, enrolments: int, seed: int = 1) -> dict:
    """Load ``people``, check exact copies come back duplicate, then time ``enrolments`` enrolments.

    Returns ``people``, ``load_s``, ``exact_copies`` / ``exact_copies_duplicate`` /
    ``exact_copies_of_original`` (found as duplicate / of the very person copied: a namesake
    twin can tie), ``enrolments``, ``ms_p50``/``_p95``/``_p99``/``_max`` (one committed
    transaction each) and the statuses given to re-enrolled variants and to new people.
    """
    ctx = service.IdentityContext.of(platform)
    rng = random.Random(seed)
    rows = population._population(people, rng)
    uins = _unique_uins(people)
    # Parents are enrolled people: each family tag of the generator gets a loaded person's UIN
    # (a family's two tags sort next to each other, so they never share one).
    tags = sorted({tag for row in rows for tag in row[11]})
    picks = rng.sample(range(people), min(len(tags), people))
    parent_uins = {tag: uins[picks[i % len(picks)]] for i, tag in enumerate(tags)}
    started = time.perf_counter()
    load(platform, ctx, rows, uins, parent_uins, console)
    load_s = time.perf_counter() - started

    copies = rng.sample(range(people), EXACT_COPIES)
    found = [_enrol(platform, ctx, _loaded(rows, parent_uins, i))[0] for i in copies]

    # Built before timing: the API validates a request before the service sees it.
    timed: list[tuple[str, EnrolmentIn]] = []
    for n in range(enrolments):
        if n % 2 == 0:
            demo, _ = population._perturb(rows[rng.randrange(people)], rng)
            while demo.birth_place is None:  # the API requires a birth place
                demo, _ = population._perturb(rows[rng.randrange(people)], rng)
            timed.append(("variant", enrolment_request(demo, parent_uins, people + n)))
        else:
            demo = population._demographics(population._person(rng))
            timed.append(("new", enrolment_request(demo, parent_uins, people + n)))
    times: list[float] = []
    statuses: dict[str, Counter] = {"variant": Counter(), "new": Counter()}
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("enrolling", total=enrolments)
        for kind, request in timed:
            enrolment, ms = _enrol(platform, ctx, request)
            times.append(ms)
            statuses[kind][enrolment.status] += 1
            progress.advance(task)
    pct = population._pct
    return {
        "people": people,
        "load_s": round(load_s, 1),
        "exact_copies": len(found),
        "exact_copies_duplicate": sum(e.status == "duplicate" for e in found),
        "exact_copies_of_original": sum(e.duplicate_of == uins[i] for e, i in zip(found, copies)),
        "enrolments": enrolments,
        "ms_p50": round(pct(times, 50), 2),
        "ms_p95": round(pct(times, 95), 2),
        "ms_p99": round(pct(times, 99), 2),
        "ms_max": round(max(times), 2),
        "variant_statuses": dict(statuses["variant"]),
        "new_statuses": dict(statuses["new"]),
    }
