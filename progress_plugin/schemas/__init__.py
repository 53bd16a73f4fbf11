"""Marshmallow schemas of the host contract: the payloads a host sends (events, webhook envelopes,
hook arguments) and the vocabulary's tags and files (:mod:`progress_plugin.schemas.vocabulary`,
re-exported here). Each is exported as JSON Schema into ``schemas/`` (:data:`BOUNDARY`).

Other boundaries keep their schemas beside the code that serves them: the admin API's query and response
schemas (:mod:`~progress_plugin.web.admin`), Canvas events (:mod:`~progress_plugin.web.canvas`), CDS Hooks
requests (:mod:`~progress_plugin.web.cds`), the panel's query arguments (:mod:`~progress_plugin.web.panel_routes`),
FHIR Subscription notifications (:mod:`~progress_plugin.fhir.subscriptions`) and the config file
(:mod:`~progress_plugin.service.settings`). Their shared field types: :mod:`progress_plugin.schemas.field_types`.

Inbound schemas raise on unknown fields. ``load`` returns core objects. Build each schema
once (module-level instances below); building one per request doubles the load cost.
"""
from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, post_load, pre_load, validates_schema

from progress_plugin import errors
from progress_plugin.core import events as ev
from progress_plugin.core.words import N_
from progress_plugin.schemas import jsonio, validate   # marshmallow's validators, said through the catalogs
from progress_plugin.core.intake import (CADENCES, HOLDING_STEADY, MAX_GOALS, RATING_MAX, RATING_MIN,
                                    RETIRED_GOAL_ANSWERS, SAYING_NOT_WORKING, SECTION_VERSION, VERSIONS,
                                    WHOSE, Goal, Intake, upgrade_answers)
from progress_plugin.core.notes import GOAL_LINK_NEEDED, NOTE_SOURCES, RATERS, Rating, TagInput
from progress_plugin.schemas.field_types import ID, AwareDateTime, FreeDict, Inbound, Int, Text
from progress_plugin.core.vocabulary import CODE_RE
from progress_plugin.schemas.vocabulary import (MAX_VERSION, ROLE_DOC, TagAdd, TagAddSchema,  # noqa: F401
                                                TagEditSchema, TagSchema, Version, VocabularyFileSchema,
                                                tag_add_schema, tag_edit_schema, tag_schema,
                                                vocabulary_file_schema)

Rating010 = validate.Range(min=RATING_MIN, max=RATING_MAX, error=N_("Ratings are 0-10; got {input}."))
#: The most ``(code, version)`` pairs one label request may ask about.
MAX_LABEL_PAIRS = 500


# -- intake -------------------------------------------------------------------------------
class GoalSchema(Inbound):
    id = Text(validate=validate.Regexp(r"^[A-Za-z0-9._-]{1,64}$"),
              metadata={"description": "Stable id for this goal; defaults to g<rank>."})
    words = Text(required=True, validate=validate.Length(min=1, max=1000),
                 metadata={"description": "The goal in the client's own words.", "answered_by": "client"})
    whose = Text(required=True, validate=validate.OneOf(WHOSE))
    baseline = Int(required=True, strict=True, validate=Rating010)
    rank = Int(strict=True, validate=validate.Range(min=1, max=MAX_GOALS))
    replaces = Text(validate=validate.Length(min=1, max=64), metadata={"description": "Redefinition: the id "
                    "of the goal this new goal (own id, baseline) replaces; that one ends 'replaced' with its ratings."})


class IntakeSchema(Inbound):
    """A filled-in "Defining progress together" section. Saved as a draft unless ``agreed`` and
    ``goals_reviewed`` are both true. Answers to an earlier version of the section are accepted
    and mapped onto the current one."""

    intake_id = Text(validate=ID)
    definition_version = Text(load_default=SECTION_VERSION, validate=validate.OneOf(VERSIONS))
    goals = fields.List(fields.Nested(GoalSchema), required=True,
                        validate=validate.Length(min=1, max=MAX_GOALS,
                                                 error=N_("Between 1 and 3 goals; goal 1 is required.")))
    hopes = Text(validate=validate.Length(max=2000),
                 metadata={"description": "What the client hopes to get from coming, in their own words.",
                           "answered_by": "client"})
    better_looks_like = Text(validate=validate.Length(max=2000))
    small_shift = Text(validate=validate.Length(max=2000))
    holding_steady_counts = Text(validate=validate.OneOf(HOLDING_STEADY))
    if_stirred_up = Text(validate=validate.Length(max=2000))
    saying_not_working = Text(validate=validate.OneOf(SAYING_NOT_WORKING))
    saying_not_working_other = Text(validate=validate.Length(max=500))
    review_cadence = Text(required=True, validate=validate.OneOf(CADENCES))
    review_date = fields.Date()
    therapist_view = Text(validate=validate.Length(max=2000))
    agreed = fields.Boolean(required=True)
    agreed_on = fields.Date(required=True)
    goals_reviewed = fields.Boolean(required=True)
    private_reflection = Text(validate=validate.Length(max=4000))

    @pre_load
    def drop_retired(self, data, **kwargs):
        """Goal answers an earlier version asked and this one does not (the attainment levels
        and weight of 1.0.0) are ignored, so that answers to that version still load."""
        retired = RETIRED_GOAL_ANSWERS.get(data.get("definition_version")) if isinstance(data, dict) else None
        if not retired or not isinstance(data.get("goals"), list):
            return data
        goals = [{k: v for k, v in g.items() if k not in retired} if isinstance(g, dict) else g
                 for g in data["goals"]]
        return {**data, "goals": goals}

    @validates_schema
    def check(self, data, **kwargs):
        goals = data.get("goals") or []
        ranks = [g.get("rank", i + 1) for i, g in enumerate(goals)]
        if len(set(ranks)) != len(ranks):
            raise ma.ValidationError(N_("Each goal needs its own rank."), "goals")
        ids = [g.get("id") or f"g{r}" for g, r in zip(goals, ranks)]
        if len(set(ids)) != len(ids):
            raise ma.ValidationError(N_("Goal ids must differ."), "goals")
        for i, g in enumerate(goals):   # a redefinition is a new goal, with its own id; the old one leaves
            if g.get("replaces") and ("id" not in g or g["replaces"] in ids):
                raise ma.ValidationError({i: {"replaces": [N_("The goal replaced leaves the intake.")]} if "id" in g
                                          else {"id": [N_("A goal that replaces another needs its own id.")]}}, "goals")
        if data.get("review_cadence") == "at-review" and not data.get("review_date"):
            raise ma.ValidationError(N_("A review date is needed when looking again 'at the planned review'."), "review_date")
        if data.get("saying_not_working_other") and data.get("saying_not_working") != "other":
            raise ma.ValidationError(N_("Only with 'other'."), "saying_not_working_other")

    @post_load
    def to_intake(self, data, **kwargs) -> Intake:
        goals = []
        for i, g in enumerate(data.pop("goals")):
            rank = g.get("rank", i + 1)
            goals.append(Goal(g.get("id") or f"g{rank}", g["words"], g["whose"], g["baseline"], rank,
                              replaces=g.get("replaces")))
        intake_id = data.pop("intake_id", None) or f"intake-{data['agreed_on'].isoformat()}"
        fixed = {k: data.pop(k) for k in ("review_cadence", "agreed", "agreed_on", "goals_reviewed",
                                          "definition_version")}
        review_date = data.pop("review_date", None)
        answers = upgrade_answers(fixed["definition_version"], data)
        return Intake(intake_id, tuple(goals), fixed["review_cadence"], fixed["agreed"], fixed["agreed_on"],
                      fixed["goals_reviewed"], answers, review_date, fixed["definition_version"])


# -- note progress ------------------------------------------------------------------------
class RatingSchema(Inbound):
    goal = Text(required=True, validate=ID,
                error_messages=dict.fromkeys(("required", "null"), GOAL_LINK_NEEDED))
    value = Int(strict=True, validate=Rating010, allow_none=True)
    rated_by = Text(load_default="client", validate=validate.OneOf(RATERS),
                    metadata={"description": "'carer' only for a goal whose 'whose' is 'carer'."})
    level = Int(strict=True, validate=validate.Range(min=-2, max=2), allow_none=True)
    source = Text(load_default="session", validate=validate.OneOf(NOTE_SOURCES),
                  metadata={"description": "Where the rating was given: 'session' (in the room)."})

    @validates_schema
    def something(self, data, **kwargs):
        if data.get("value") is None and data.get("level") is None:
            raise ma.ValidationError(N_("Give a 0-10 value, an attainment level, or both."), "value")

    @post_load
    def to_rating(self, data, **kwargs) -> Rating:
        return Rating(data["goal"], data.get("value"), data["rated_by"], data.get("level"), source=data["source"])


class AppliedTagSchema(Inbound):
    code = Text(required=True, validate=validate.Regexp(CODE_RE, error=N_("Not a tag code: {input}.")))
    goals = fields.List(Text(validate=ID), load_default=list, validate=validate.Length(max=MAX_GOALS))
    ratings = fields.List(fields.Nested(RatingSchema), load_default=list, validate=validate.Length(max=3 * MAX_GOALS),
                          metadata={"deprecated": True, "description": "Deprecated: give ratings in the note's "
                                    "own 'ratings'. Accepted for one more version; needs the tag to link the goal."})

    @post_load
    def to_tag(self, data, **kwargs) -> TagInput:
        return TagInput(data["code"], tuple(data["goals"]), tuple(data["ratings"]))


class NoteProgressSchema(Inbound):
    """The progress part of one session note. There is no field for note text, by design."""

    clinic_id = Text(required=True, validate=ID)
    client_id = Text(required=True, validate=ID)
    note_id = Text(required=True, validate=ID)
    note_type = Text(validate=validate.Length(max=128), allow_none=True)
    session_at = AwareDateTime(required=True)
    author = Text(required=True, validate=ID)
    at = AwareDateTime(required=True, metadata={"description": "When the host saved or signed the note."})
    tags = fields.List(fields.Nested(AppliedTagSchema), load_default=list, validate=validate.Length(max=40))
    ratings = fields.List(fields.Nested(RatingSchema), load_default=list, validate=validate.Length(max=3 * MAX_GOALS),
                          metadata={"description": "Per goal, an optional 0-10 rating with its rater; no tag needed."})
    signed = fields.Boolean(load_default=False)

    @post_load
    def to_event(self, data, **kwargs) -> ev.NoteSaved:
        cls = ev.NoteSigned if data.pop("signed") else ev.NoteSaved
        return cls(data["clinic_id"], data["at"], data["client_id"], data["note_id"], data["session_at"],
                   data["author"], tuple(data["tags"]), data.get("note_type"), tuple(data["ratings"]))


# -- events that arrive as plain data (webhooks, hook arguments) --------------------------
class IntakeSubmittedSchema(Inbound):
    clinic_id = Text(required=True, validate=ID)
    client_id = Text(required=True, validate=ID)
    author = Text(required=True, validate=ID)
    at = AwareDateTime(required=True)
    intake = fields.Nested(IntakeSchema, required=True)

    @post_load
    def to_event(self, data, **kwargs) -> ev.IntakeSubmitted:
        return ev.IntakeSubmitted(data["clinic_id"], data["at"], data["client_id"], data["intake"], data["author"])


class NoteDeletedSchema(Inbound):
    clinic_id = Text(required=True, validate=ID)
    client_id = Text(required=True, validate=ID)
    note_id = Text(required=True, validate=ID)
    at = AwareDateTime(required=True)

    @post_load
    def to_event(self, data, **kwargs) -> ev.NoteDeleted:
        return ev.NoteDeleted(data["clinic_id"], data["at"], data["client_id"], data["note_id"])


class ClientDischargedSchema(Inbound):
    clinic_id = Text(required=True, validate=ID)
    client_id = Text(required=True, validate=ID)
    at = AwareDateTime(required=True)

    @post_load
    def to_event(self, data, **kwargs) -> ev.ClientDischarged:
        return ev.ClientDischarged(data["clinic_id"], data["at"], data["client_id"])


# -- hook arguments (the in-process host contract, progress_plugin.hookspecs) -------------
class ClientRequestSchema(Inbound):
    """A host asking for something about one client: its intake sections or chart panels."""

    clinic_id = Text(required=True, validate=ID)
    client_id = Text(required=True, validate=ID)
    audience = Text(load_default="therapist", validate=validate.OneOf(("therapist", "client")))


class NoteFieldsRequestSchema(Inbound):
    """A host asking for the fields to add to one client's note form."""

    clinic_id = Text(required=True, validate=ID)
    client_id = Text(required=True, validate=ID)
    note_type = Text(validate=validate.Length(max=128), allow_none=True)


class ClinicRequestSchema(Inbound):
    """A host asking for something about one clinic: its admin pages."""

    clinic_id = Text(required=True, validate=ID)


class TagRefSchema(Inbound):
    """One tag as a note recorded it: its code and the vocabulary version it was applied from."""

    code = Text(required=True, validate=validate.Regexp(CODE_RE, error=N_("Not a tag code: {input}.")))
    version = Int(required=True, strict=True, validate=Version,
                  metadata={"description": "The vocabulary version the note recorded with the code."})


class TagLabelsRequestSchema(Inbound):
    """A host asking what tags meant at given vocabulary versions (body of ``POST .../tag-labels``)."""

    pairs = fields.List(fields.Nested(TagRefSchema), required=True, validate=validate.Length(
        max=MAX_LABEL_PAIRS, error=N_("At most {max} pairs per request.")))

    @post_load
    def to_pairs(self, data, **kwargs):
        return {**data, "pairs": [(p["code"], p["version"]) for p in data["pairs"]]}


class TagLabelsHookSchema(TagLabelsRequestSchema):
    """The arguments of the ``tag_labels`` hook."""

    clinic_id = Text(required=True, validate=ID)


class HostConfigSchema(Inbound):
    """The plugin's part of a host's settings (``config["progress_plugin"]`` of the configure hook)."""

    store_url = Text(validate=validate.Length(min=1, max=2000),
                     metadata={"description": "SQLAlchemy URL of the plugin's store."})


class NoteRefSchema(ma.Schema):
    """Only the ids and type of a note: what is read of a protected note before refusing it."""

    class Meta:
        unknown = ma.EXCLUDE

    clinic_id = Text(required=True, validate=ID)
    client_id = Text(required=True, validate=ID)
    note_id = Text(required=True, validate=ID)
    note_type = Text(validate=validate.Length(max=128), allow_none=True)
    author = Text(validate=ID)


class EnvelopeSchema(Inbound):
    """A Standard Webhooks body: ``{"type", "timestamp", "data"}``. ``data`` is checked per type."""

    type = Text(required=True, validate=validate.Regexp(r"^[a-z][a-z0-9_.-]{0,99}$"))
    timestamp = AwareDateTime(required=True)
    data = FreeDict(required=True)


intake_schema = IntakeSchema()
note_schema = NoteProgressSchema()
intake_submitted_schema = IntakeSubmittedSchema()
note_deleted_schema = NoteDeletedSchema()
client_discharged_schema = ClientDischargedSchema()
envelope_schema = EnvelopeSchema()
client_request_schema = ClientRequestSchema()
note_fields_request_schema = NoteFieldsRequestSchema()
clinic_request_schema = ClinicRequestSchema()
host_config_schema = HostConfigSchema()
tag_labels_request_schema = TagLabelsRequestSchema()
tag_labels_hook_schema = TagLabelsHookSchema()
note_ref_schema = NoteRefSchema()

#: The event types a host sends (webhook envelopes, inbox rows) and the schema of each one's data.
EVENT_TYPES = {
    "intake.submitted": intake_submitted_schema,
    "note.saved": note_schema,
    "note.signed": note_schema,
    "note.deleted": note_deleted_schema,
    "client.discharged": client_discharged_schema,
}

#: Every boundary schema, by the name its JSON Schema file gets in ``schemas/``.
BOUNDARY = {
    "intake": intake_schema,
    "note-progress": note_schema,
    "tag": tag_schema,
    "tag-add": tag_add_schema,
    "tag-edit": tag_edit_schema,
    "vocabulary-file": vocabulary_file_schema,
    "event-intake-submitted": intake_submitted_schema,
    "event-note-deleted": note_deleted_schema,
    "event-client-discharged": client_discharged_schema,
    "webhook-envelope": envelope_schema,
    "hook-client-request": client_request_schema,
    "hook-note-fields-request": note_fields_request_schema,
    "hook-clinic-request": clinic_request_schema,
    "hook-config": host_config_schema,
    "hook-tag-labels-request": tag_labels_hook_schema,
    "tag-labels-request": tag_labels_request_schema,
}


def load(schema: ma.Schema, data):
    """``schema.load(data)``, with marshmallow's error turned into ours (messages kept)."""
    if not isinstance(data, dict):
        raise errors.ValidationError({"_schema": [N_("Expected a JSON object.")]})
    try:
        return schema.load(data)
    except ma.ValidationError as exc:       # a field name taken from the input is made printable
        raise errors.ValidationError(jsonio.plain_keys(exc.messages, keys_as_text=False)) from None
