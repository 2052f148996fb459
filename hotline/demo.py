"""Demo data: realistic tips in English and Spanish, sent through the real intake, and a
small referral directory of obviously fictional services."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from hotline import referrals
from hotline.commits import GroupCommitter
from hotline.followup import Followup
from hotline.intake import Intake, Report
from hotline.referrals import ServiceDraft
from hotline.replies import add_reply
from hotline.seal import Sealer

DEMO_REPORTS: tuple[tuple[str, Report], ...] = (
    (
        "en",
        Report(
            what="A girl who looks about 15 is being taken to rooms at the motel by different men "
            "every night. An older man waits in the car and keeps her phone.",
            where="Sunset Motel, room 12, by the highway exit",
            when="tonight, around 11pm",
            minors="yes",
            how_many="1",
        ),
    ),
    (
        "en",
        Report(
            what="Workers at the farm on Route 9 say the boss took their passports when they "
            "arrived and tells them they owe him for the trip. They sleep in a barn and are "
            "not allowed to leave.",
            where="Route 9 farm, the blue barn",
            how_many="about 12",
            minors="no",
        ),
    ),
    (
        "es",
        Report(
            what="Una vecina trabaja en la casa de al lado desde hace dos años, no sale nunca, "
            "le quitaron el pasaporte y dice que no le pagan.",
            where="Calle Olmo 14",
            minors="no",
            how_many="1",
        ),
    ),
    ("en", Report(what="What are the signs of human trafficking? Asking for a school project.")),
    (
        "es",
        Report(
            what="Nos tienen encerradas en un departamento, ayúdenme por favor, ahorita mismo.",
            where="edificio gris frente al mercado, piso 3",
            minors="unknown",
        ),
    ),
    (
        "en",
        Report(
            what="Nail salon on Main St: the same three women work there 7 days a week, 14 "
            "hours a day, and a man drives them in and out. They never speak to customers.",
            how_many="3",
            minors="unknown",
        ),
    ),
)

DEMO_REPLY = (
    "Thank you for your report. A hotline worker has read it and we are working with a "
    "local partner. If you learn more, add it here with your code."
)


# Fictional services with 555 numbers: one of each kind; the interpreters, booked by staff,
# are kept off the public page.
DEMO_SERVICES: tuple[ServiceDraft, ...] = (
    ServiceDraft(
        kind="shelter",
        name="Harbor House Emergency Shelter (demo)",
        region="Riverside County",
        languages="en,es",
        hours="24 hours, every day",
        contact="555-0142",
        description="Safe, confidential housing for survivors and their children. "
        "No documents or police report needed to stay.",
        public=True,
    ),
    ServiceDraft(
        kind="medical",
        name="Maple Street Community Clinic (demo)",
        region="Riverside, downtown",
        languages="en,es,vi",
        hours="Mon-Sat 8:00-20:00",
        contact="555-0167, 210 Maple Street",
        description="Free medical care, sexual health and forensic exams. "
        "No insurance or ID needed.",
        public=True,
    ),
    ServiceDraft(
        kind="legal",
        name="Open Door Legal Aid (demo)",
        region="Statewide",
        languages="en,es,fr",
        hours="Mon-Fri 9:00-17:00",
        contact="555-0119",
        description="Free lawyers for immigration status (T visas), unpaid wages and "
        "family matters.",
        public=True,
    ),
    ServiceDraft(
        kind="counselling",
        name="Lantern Support Line (demo)",
        region="Statewide, by phone and text",
        languages="en",
        hours="Every day 7:00-23:00",
        contact="Call or text 555-0188",
        description="Trauma-informed counsellors to talk things through, in confidence.",
        public=True,
    ),
    ServiceDraft(
        kind="interpreter",
        name="Bridgeway Interpreters Cooperative (demo)",
        region="Riverside County",
        languages="es,zh,tl,ar,ru",
        hours="On call, 24 hours",
        contact="Dispatch desk 555-0103",
        description="Phone interpreters for hotline calls and accompanied visits. "
        "Booked by hotline staff.",
        public=False,
    ),
    ServiceDraft(
        kind="law_enforcement",
        name="County Anti-Trafficking Task Force (demo)",
        region="Riverside County",
        languages="en,es",
        hours="Duty officer 24 hours",
        contact="Duty line 555-0111",
        description="Specialist detectives who work alongside victim advocates.",
        public=True,
    ),
)


async def seed_referrals(engine: AsyncEngine) -> int:
    """Add the demo services to an empty directory; returns how many were added."""
    if await referrals.count_services(engine):
        return 0
    for draft in DEMO_SERVICES:
        await referrals.create_service(engine, draft)
    return len(DEMO_SERVICES)


async def seed(
    *,
    intake: Intake,
    followup: Followup,
    committer: GroupCommitter,
    sealer: Sealer,
    engine: AsyncEngine | None = None,
) -> str:
    """Submit the demo tips; answer the first one; fill an empty referral directory when
    given the ``engine``. Returns the answered tip's receipt."""
    if engine is not None:
        await seed_referrals(engine)
    tokens = [await intake.submit_web(report, lang=lang) for lang, report in DEMO_REPORTS]
    taken = await followup.take_receipt(tokens[0].handoff_token)
    assert taken is not None  # noqa: S101 - just committed
    tip_id, receipt, _urgency = taken
    reporter_key = await followup.ensure_reporter_key(tip_id, receipt)
    await add_reply(committer, sealer, tip_id, reporter_key.public_key(), DEMO_REPLY)
    return receipt
