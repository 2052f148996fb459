"""Demo data: realistic tips in English and Spanish, sent through the real intake."""

from __future__ import annotations

from hotline.commits import GroupCommitter
from hotline.followup import Followup
from hotline.intake import Intake, Report
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


async def seed(
    *,
    intake: Intake,
    followup: Followup,
    committer: GroupCommitter,
    sealer: Sealer,
) -> str:
    """Submit the demo tips; answer the first one. Returns that tip's receipt."""
    tokens = [await intake.submit_web(report, lang=lang) for lang, report in DEMO_REPORTS]
    taken = await followup.take_receipt(tokens[0].handoff_token)
    assert taken is not None  # noqa: S101 - just committed
    tip_id, receipt, _urgency = taken
    reporter_key = await followup.ensure_reporter_key(tip_id, receipt)
    await add_reply(committer, sealer, tip_id, reporter_key.public_key(), DEMO_REPLY)
    return receipt
