"""Sample organisations and practices for the demo network: believable, and fictional.

The groups below do the kinds of things UK local organisations really do —
play streets, repair cafés, community fridges, tenants' organising, men's
sheds, peer support, community growing — in real places (areas are postcode
districts), but the organisations themselves, their figures and their
people are invented. Some practices are adapted from another group's, and
say so (``adapted_from``, plus a signed credit).

:func:`seed_organisation` writes one organisation into a node through the
ordinary :class:`node.Store` API — records, lessons, measures and
observations, voices, share policies, publish, credit, profile — never by
inserting rows, so the demo exercises exactly what a real group does.
Private fields (context, community, voices, exact observations) are filled
in too, so the demo also shows that they stay on the node. Most groups
publish a contact (fictional addresses under ``.example``); some do not,
as in life.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

from .store.sharing import SharedMeasure, SharePolicy
from .store.store import Store

__all__ = [
    "LIVE_PRACTICE",
    "SAMPLE_ORGANISATIONS",
    "SampleMeasure",
    "SampleOrganisation",
    "SamplePractice",
    "SampleSource",
    "add_practice",
    "seed_organisation",
]

#: Every summary field a sample practice shares (title and status are always shared).
_SHARED_FIELDS: Final = frozenset({"description", "themes", "level", "area", "since", "lessons",
                                   "measures", "adapted_from"})


@dataclass(frozen=True, slots=True)
class SampleMeasure:
    name: str
    unit: str
    defined_by: str  # community, funder or own
    why: str
    observations: tuple[tuple[str, int], ...]  # (YYYY-MM-DD, value); private
    aggregate: str = "sum"
    period: str = "all"


@dataclass(frozen=True, slots=True)
class SampleSource:
    """``organisation`` (an index into :data:`SAMPLE_ORGANISATIONS`) and its practice key."""

    organisation: int
    practice: str
    note: str  # private: how the group adapted it
    thanks: str  # public: the note of the signed credit


@dataclass(frozen=True, slots=True)
class SamplePractice:
    key: str
    title: str
    description: str
    themes: tuple[str, ...]
    since: str
    context: str  # private
    community: str  # private
    run_by: str  # private
    lessons: tuple[str, ...] = ()
    measures: tuple[SampleMeasure, ...] = ()
    voices: tuple[tuple[str, str], ...] = ()  # (speaker, quote); private
    adapted_from: tuple[SampleSource, ...] = ()
    level: str = "neighbourhood"


@dataclass(frozen=True, slots=True)
class SampleOrganisation:
    name: str
    area: str
    level: str
    description: str
    principles: tuple[str, ...]
    practices: tuple[SamplePractice, ...] = field(default_factory=tuple)
    #: What the group publishes for others to get in touch ("": it publishes none).
    contact: str = ""


def _monthly(year: int, values: Sequence[int], day: int = 14) -> tuple[tuple[str, int], ...]:
    return tuple((f"{year}-{month:02d}-{day:02d}", value)
                 for month, value in enumerate(values, start=1))


SAMPLE_ORGANISATIONS: Final[tuple[SampleOrganisation, ...]] = (
    SampleOrganisation(
        "Chapeltown Play Out", "LS7", "neighbourhood",
        "Neighbours on a few terraced streets in Chapeltown, Leeds, who close their road to "
        "traffic once a month so children can play out.",
        ("open to everyone", "volunteer-led", "children first"),
        (SamplePractice(
            "play-street", "Monthly play street",
            "On the first Sunday of each month we close our street to through traffic from "
            "2 to 5pm under a council temporary play street order. Stewards at each end let "
            "residents' cars through at walking pace; everyone else brings chalk, bikes and "
            "skipping ropes.",
            ("play", "children", "streets", "neighbours"), "2019-05",
            context="Terraced streets off Chapeltown Road with little green space nearby.",
            community="Around 40 households, many with young children; several elderly "
                      "residents who were wary at first.",
            run_by="Four resident organisers and a rota of stewards.",
            lessons=(
                "Knock on every door a fortnight before the first one: the council form is "
                "the easy part, the neighbours are the real permission.",
                "Stewards need a hi-vis vest and a five-minute briefing, not a training day.",
                "Keep it boring and regular. The same Sunday every month is what makes it "
                "part of the street's life.",
            ),
            measures=(SampleMeasure(
                "children playing out", "children", "community",
                "Parents asked us to count who comes, not how long they stay.",
                _monthly(2025, (23, 31, 18, 27, 35, 29))),),
            voices=(("a parent on the street", "It's the one afternoon I know my two can "
                     "just run about outside."),),
        ),),
        contact="playout@chapeltown.example",
    ),
    SampleOrganisation(
        "Headingley Repair Café", "LS6", "neighbourhood",
        "Volunteer fixers and neighbours mending broken things together in a church hall in "
        "Headingley, Leeds.",
        ("free to use", "volunteer-led", "repair before recycling"),
        (SamplePractice(
            "repair-cafe", "Repair café",
            "On the second Saturday of the month, volunteer fixers sit with visitors and mend "
            "lamps, toasters, clothes, bikes and laptops together. Nobody drops things off: "
            "the owner learns the fix. Tea and cake by donation.",
            ("repair", "reuse", "waste", "skills", "climate"), "2016-09",
            context="Student area with high turnover; lots of cheap electricals thrown out in "
                    "June when tenancies end.",
            community="Students, older residents, and families from the estates up the hill.",
            run_by="A coordinator and about fifteen volunteer fixers.",
            lessons=(
                "Have a PAT-trained volunteer test every electrical item before it goes home.",
                "A greeter at the door with a sign-in sheet keeps the queue calm and fair.",
            ),
            measures=(SampleMeasure(
                "items repaired", "items", "own",
                "Our insurer and our funder both ask for it; we also like knowing.",
                _monthly(2025, (42, 37, 51, 44, 39, 48), day=10)),),
            voices=(("a visitor", "I came in to fix a kettle and ended up staying to help "
                     "with the next one."),),
        ),),
        contact="https://repaircafe.headingley.example/visit",
    ),
    SampleOrganisation(
        "Easton Community Fridge", "BS5", "neighbourhood",
        "A fridge and larder in a community centre in Easton, Bristol, stocked with surplus "
        "food from shops, cafés and allotments, open to anyone.",
        ("no questions asked", "food is for eating", "volunteer-led"),
        (SamplePractice(
            "community-fridge", "Community fridge",
            "Volunteers collect surplus food from local shops and allotments six days a week "
            "and stock a fridge and larder that anyone can take from, no questions asked. A "
            "volunteer checks temperatures and dates every shift.",
            ("food", "waste", "mutual aid"), "2018-03",
            context="Shared building with a nursery; fridge space limited to two units.",
            community="Anyone: regulars include families, students and people between jobs.",
            run_by="A volunteer coordinator and a rota of about thirty volunteers.",
            lessons=(
                "One volunteer per shift with a level 2 food hygiene certificate, and a "
                "temperature log kept on a clipboard by the fridge.",
                "Say 'no questions asked' on the door and mean it: dignity is what brings "
                "people back.",
            ),
            measures=(SampleMeasure(
                "food redistributed", "kg", "own",
                "Weighed at collection; the council's waste team asks for it.",
                _monthly(2025, (310, 285, 342, 298, 356, 331), day=28)),),
        ),),
        contact="fridge@easton.example",
    ),
    SampleOrganisation(
        "Moss Side Tenants' Union", "M14", "local",
        "Private and social renters in south Manchester organising together for repairs, "
        "fair rents and respect.",
        ("tenant-led", "collective action", "independent of landlords"),
        (SamplePractice(
            "repairs-campaign", "Block-by-block repairs campaign",
            "We door-knock a block, list every repair that has been ignored, and send the "
            "landlord one collective letter with a deadline. If nothing happens we go back "
            "together. Most repairs get done within the deadline.",
            ("housing", "tenants", "organising", "neighbours"), "2020-01", level="local",
            context="Large housing association stock plus many small private landlords.",
            community="Renters in about a dozen blocks.",
            run_by="A committee of six tenants elected at the annual meeting.",
            lessons=(
                "Start with the repair most people share (damp, usually): one shared win "
                "builds the membership.",
                "Keep a dated record of every report: the landlord's own emails are the "
                "strongest evidence.",
            ),
            measures=(SampleMeasure(
                "households joining", "households", "community",
                "Members decided growth is what shows whether we are trusted.",
                (("2025-01-05", 12), ("2025-02-05", 3), ("2025-03-05", 8), ("2025-04-05", 2)),
                aggregate="latest", period="2025"),),
            voices=(("a member on the third floor", "We'd reported the damp for two years. "
                     "Eight of us signed one letter and it was fixed in a month."),),
        ),),
    ),
    SampleOrganisation(
        "Walthamstow Men's Shed", "E17", "neighbourhood",
        "A workshop in Walthamstow, east London, where men (and anyone else) make, mend and "
        "talk side by side.",
        ("shoulder to shoulder", "open to all", "members run it"),
        (SamplePractice(
            "mens-shed", "Men's shed workshop",
            "Three mornings a week the workshop is open for woodwork, bike maintenance and "
            "whatever members bring. Talk happens over the workbench, not across a table.",
            ("wellbeing", "skills", "isolation"), "2017-11",
            context="Railway arch workshop rented from a community land trust.",
            community="Mostly retired men, several recently bereaved.",
            run_by="An elected members' committee.",
            lessons=("A tea break at the same time every session does more than any "
                     "programme.",),
        ),
            SamplePractice(
            "repair-cafe", "Repair café at the shed",
            "Once a month members open the shed to neighbours and fix what they bring, the "
            "Headingley way: the owner sits with the fixer and learns the repair.",
            ("repair", "reuse", "skills"), "2022-04",
            context="Members wanted a reason for neighbours to come in.",
            community="Neighbours of the arches; members as fixers.",
            run_by="Two members who volunteered at a repair café before.",
            lessons=("Members who were shy of 'volunteering' were happy to 'fix a few "
                     "things'.",),
            adapted_from=(SampleSource(
                1, "repair-cafe", "We copied their sign-in sheet and safety testing.",
                "Your sign-in sheet and PAT testing routine made our first session work."),),
        )),
        contact="https://walthamstowshed.example",
    ),
    SampleOrganisation(
        "Leith Walk Peer Support", "EH6", "local",
        "Peer-led support groups in Leith, Edinburgh, for people living with anxiety and "
        "depression.",
        ("peer-led", "confidential", "nobody has to talk"),
        (SamplePractice(
            "walk-and-talk", "Walk and talk",
            "Every Tuesday a group walks the Water of Leith path for an hour, led by two "
            "trained peer volunteers, and ends at a café. Nobody has to talk; walking side "
            "by side makes it easier when they want to.",
            ("mental health", "peer support", "walking"), "2021-06", level="local",
            context="Referrals from GPs and a local mental health charity.",
            community="Adults living with anxiety or depression; some referred, most not.",
            run_by="Peer volunteers with lived experience, supervised monthly.",
            lessons=("Two leaders, always: one at the front, one who can walk slowly with "
                     "someone who is struggling.",),
            measures=(SampleMeasure(
                "people on a walk", "people", "community",
                "The group agreed a count but no names.",
                (("2025-05-06", 7), ("2025-05-13", 4), ("2025-05-20", 3)),
                aggregate="latest", period="2025-05"),),
            voices=(("a walker", "The first three weeks I didn't say a word, and that was "
                     "fine."),),
        ),),
        contact="walks@leithpeers.example",
    ),
    SampleOrganisation(
        "Splott Community Growers", "CF24", "neighbourhood",
        "Growing food together on a former bowling green in Splott, Cardiff, and sharing "
        "what is left over.",
        ("grow together", "share the harvest", "everyone welcome"),
        (SamplePractice(
            "growing-plots", "Shared growing plots",
            "Raised beds tended together on Saturday mornings; no individual plots, so "
            "newcomers can join any week and nobody's bed is left to weeds.",
            ("food", "growing", "green space"), "2019-03",
            context="Lease from the council on a disused bowling green.",
            community="Families from nearby flats with no gardens.",
            run_by="A volunteer group with a paid sessional grower in summer.",
            lessons=("Shared beds beat individual plots for keeping newcomers.",),
        ),
            SamplePractice(
            "community-fridge", "Harvest fridge",
            "A community fridge at the garden gate stocked with our surplus vegetables and "
            "with food from two local shops, adapted from Easton's community fridge.",
            ("food", "waste", "mutual aid"), "2023-07",
            context="Fridge bought with a small grant; electricity from the pavilion.",
            community="Anyone passing the garden.",
            run_by="Garden volunteers on a daily rota.",
            lessons=("Copying Easton's temperature log saved us weeks of work with the "
                     "environmental health officer.",),
            adapted_from=(SampleSource(
                2, "community-fridge", "We used their hygiene procedures almost word for word.",
                "Thank you for sharing your hygiene routine and your 'no questions asked' "
                "sign."),),
        )),
    ),
    SampleOrganisation(
        "Byker Playing Out", "NE6", "neighbourhood",
        "Parents in Byker, Newcastle, bringing play back to their streets.",
        ("children first", "open to everyone"),
        (SamplePractice(
            "play-street", "Pop-up play street",
            "Following Chapeltown's lead, we close one street each school holiday for an "
            "afternoon of play, rotating round the estate so every street gets a turn.",
            ("play", "children", "streets"), "2023-08",
            context="Estate with through-routes; the council's highways team was cautious.",
            community="Families across the estate.",
            run_by="Three parents and the community centre's youth worker.",
            lessons=("Rotating streets spreads the work and the welcome.",),
            adapted_from=(SampleSource(
                0, "play-street", "We borrowed their door-knocking letter.",
                "Your door-knocking letter got us our first road closure."),),
        ),),
        contact="bykerplayingout@example.org",
    ),
)

#: The practice the demo publishes live, on its last node: adapted from the first
#: node's play street, so it always names a node that is in the demo.
LIVE_PRACTICE: Final = SamplePractice(
    "play-street-kit", "Play street kit library",
    "We lend road-closure signs, cones, chalk and hi-vis vests to any street nearby that "
    "wants to hold its first play street, with the letter and checklist Chapeltown Play Out "
    "shared with us.",
    ("play", "streets", "lending"), "2025-06",
    context="Kit stored in a member's garage; bought with a £300 ward grant.",
    community="Any street within walking distance.",
    run_by="One volunteer keeps the booking calendar.",
    lessons=("Lend the letter with the cones: the door-knocking is what streets need help "
             "with.",),
    adapted_from=(SampleSource(
        0, "play-street", "Their steward briefing is in every kit bag.",
        "Your steward briefing and letter are in every kit bag we lend."),),
)


async def add_practice(store: Store, practice: SamplePractice, *, area: str,
                       node_ids: Sequence[bytes]) -> str:
    """Record ``practice`` on ``store``, share it and publish it; returns its key.

    ``node_ids[i]`` is the node of ``SAMPLE_ORGANISATIONS[i]``; sources whose
    organisation has no node in the network are left out.
    """
    record = await store.create_practice({
        "key": practice.key, "title": practice.title, "description": practice.description,
        "themes": list(practice.themes), "level": practice.level, "area": area,
        "since": practice.since,
        "context": practice.context, "community": practice.community,
        "run_by": practice.run_by})
    lessons = [await store.add_lesson(record.key, text) for text in practice.lessons]
    shared: list[SharedMeasure] = []
    for sample in practice.measures:
        measure = await store.add_measure(record.key, {
            "name": sample.name, "unit": sample.unit, "defined_by": sample.defined_by,
            "why": sample.why})
        for observed_on, value in sample.observations:
            await store.record_observation(measure.id, {"observed_on": observed_on,
                                                         "value": value})
        shared.append(SharedMeasure(measure.id, sample.aggregate, sample.period))
    for speaker, quote in practice.voices:
        await store.add_voice(record.key, {"speaker": speaker, "quote": quote})
    sources = [s for s in practice.adapted_from if s.organisation < len(node_ids)]
    for source in sources:
        await store.add_adaptation(record.key, node_ids[source.organisation], source.practice,
                                   note=source.note)
    await store.set_share_policy(record.key, SharePolicy.of(
        _SHARED_FIELDS, lessons=[lesson.id for lesson in lessons], measures=shared))
    await store.publish_practice(record.key)
    for source in sources:
        # The sample nodes are seeded before they first sync, so the credited
        # practice has not arrived yet: it does with the first round.
        await store.publish_credit(node_ids[source.organisation], source.practice,
                                   note=source.thanks, anyway=True)
    return record.key


async def seed_organisation(store: Store, sample: SampleOrganisation, *, area: str,
                            addresses: Sequence[str], node_ids: Sequence[bytes]) -> None:
    """Give ``store``'s node the organisation ``sample``: profile and published practices."""
    await store.update_organisation({
        "name": sample.name, "area": area, "level": sample.level,
        "description": sample.description, "principles": list(sample.principles),
        "addresses": list(addresses), "contact": sample.contact})
    await store.publish_profile()
    for practice in sample.practices:
        await add_practice(store, practice, area=area, node_ids=node_ids)
