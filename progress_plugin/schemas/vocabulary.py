"""Marshmallow schemas of the tag vocabulary: a tag (added, or as the admin API and files carry it),
changes to a tag, and the vocabulary file. Re-exported by :mod:`progress_plugin.schemas`.

A tag's texts in other languages are objects keyed by catalog language code (:data:`LANGUAGES`):
``"labels": {"hi": "एक कदम आगे"}``, ``"descriptions": {"hi": "..."}``. A problem names its path,
``labels.hi``; a language the catalogs do not carry is refused by its code.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

import marshmallow as ma
from marshmallow import fields, post_load, validates_schema

from progress_plugin.core.vocabulary import (AUDIENCES, CODE_RE, DESCRIPTION_MAX, DIRECTIONS, LABEL_MAX, ROLES,
                                             STATUSES, Tag, check_tags)
from progress_plugin.core.words import N_, msg
from progress_plugin.lang import LANGUAGES
from progress_plugin.schemas import validate   # marshmallow's validators, said through the catalogs
from progress_plugin.schemas.field_types import ID, Inbound, Int, Text

#: Vocabulary versions are stored as a 32-bit integer (PostgreSQL ``integer``).
MAX_VERSION = 2 ** 31 - 1
Version = validate.Range(min=1, max=MAX_VERSION, error=N_("A version is between {min} and {max}."))
CATEGORY = validate.Regexp(r"^[a-z][a-z0-9-]{0,39}$", error=N_("Categories are lower-case words, e.g. 'movement'."))
NEW_CATEGORY_DOC = {"description": "True: 'category' names a new category on purpose. Left out or false: the "
                                   "category must be a default one or one the vocabulary already has (a typo "
                                   "is refused with the closest one)."}
ROLE_DOC = {"description": "What the logic does with the tag: 'review' resets the review clock, a 'strain' "
                           "stays open until a 'repair'. Null (or left out): no role."}


def known_language(value: str) -> None:
    """A language code of the catalogs (:data:`~progress_plugin.lang.LANGUAGES`), else a problem naming it."""
    if value not in LANGUAGES:
        raise ma.ValidationError(msg("Unknown language '{language}': give one of {languages}.",
                                     language=value, languages=", ".join(LANGUAGES)))


#: What :func:`known_language` can say, for the check that every boundary message has a translation.
known_language.messages = ("Unknown language '{language}': give one of {languages}.",)


class LanguageTexts(fields.Dict):
    """A tag's texts by language: ``{"hi": "..."}``, each key a language the catalogs carry and each
    text 1-``limit`` characters. With ``removable``, a language given null loses its text (an edit).
    A problem is reported under its language (``labels.hi``)."""

    def __init__(self, limit: int, removable: bool = False, **kwargs):
        # JSON Schema and OpenAPI 3.0 say "or null" differently: a removable text leaves its type open
        text = {"minLength": 1, "maxLength": limit} if removable else {"type": "string", "minLength": 1,
                                                                      "maxLength": limit}
        metadata = {"properties": {code: text for code in LANGUAGES}, "additionalProperties": False,
                    **kwargs.pop("metadata", {})}
        super().__init__(keys=Text(validate=known_language), metadata=metadata, **kwargs)
        self.text_field = Text(allow_none=removable, validate=validate.Length(min=1, max=limit))

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, Mapping):
            raise self.make_error("invalid")
        out, problems = {}, {}
        for key, text in value.items():
            found = []
            for field, given in ((self.key_field, key), (self.text_field, text)):
                try:
                    field.deserialize(given)
                except ma.ValidationError as exc:
                    found += exc.messages if isinstance(exc.messages, list) else [str(exc.messages)]
            if found:
                problems[key] = found
            else:
                out[key] = text
        if problems:
            raise ma.ValidationError(problems, valid_data=out)
        return out


LABELS_DOC = {"description": "The label in other languages, by language code, e.g. {\"hi\": \"एक कदम आगे\"}; "
                             "a language without one shows the clinic's default language, then 'label'."}
DESCRIPTIONS_DOC = {"description": "The description in other languages, by language code."}


class TagSchema(Inbound):
    code = Text(required=True, validate=validate.Regexp(
        CODE_RE, error=N_("Codes are 1-64 characters of letters, digits, '.', '_' or '-'.")))
    label = Text(required=True, validate=validate.Length(min=1, max=LABEL_MAX))
    description = Text(load_default="", validate=validate.Length(max=DESCRIPTION_MAX))
    category = Text(required=True, validate=CATEGORY)
    direction = Text(required=True, validate=validate.OneOf(DIRECTIONS))
    audience = Text(load_default="all", validate=validate.OneOf(AUDIENCES))
    status = Text(load_default="active", validate=validate.OneOf(STATUSES))
    role = Text(load_default=None, allow_none=True, validate=validate.OneOf(ROLES), metadata=ROLE_DOC)
    labels = LanguageTexts(LABEL_MAX, load_default=dict, metadata=LABELS_DOC)
    descriptions = LanguageTexts(DESCRIPTION_MAX, load_default=dict, metadata=DESCRIPTIONS_DOC)

    @post_load
    def to_tag(self, data, **kwargs) -> Tag:
        return Tag(**data)


class TagAdd(NamedTuple):
    """A tag to add, and whether its category may be new."""

    tag: Tag
    new_category: bool


class TagAddSchema(TagSchema):
    """A tag to add (admin API ``POST``): a tag, and whether its category may be new. Loads as a
    :class:`TagAdd`."""

    new_category = fields.Boolean(load_default=False, metadata=NEW_CATEGORY_DOC)

    @post_load
    def to_tag(self, data, **kwargs) -> TagAdd:
        new_category = data.pop("new_category")
        return TagAdd(Tag(**data), new_category)


class TagEditSchema(Inbound):
    """Changes to one tag (admin API ``PATCH``). Codes are immutable; the status changes through retire/restore.
    ``new_category`` is not a change: it allows a new ``category``."""

    code = Text(metadata={"description": "If given, must be the tag's own code."})
    label = Text(validate=validate.Length(min=1, max=LABEL_MAX))
    description = Text(validate=validate.Length(max=DESCRIPTION_MAX))
    category = Text(validate=CATEGORY)
    direction = Text(validate=validate.OneOf(DIRECTIONS))
    audience = Text(validate=validate.OneOf(AUDIENCES))
    role = Text(allow_none=True, validate=validate.OneOf(ROLES),
                metadata={"description": "The new role: 'review' (resets the review clock), 'strain' (stays open "
                                         "until a 'repair') or 'repair'. Null removes it; left out, the role stays."})
    labels = LanguageTexts(LABEL_MAX, removable=True, metadata={
        "description": "Labels in other languages to set, by language code; null removes a language's label. "
                       "Languages left out keep theirs."})
    descriptions = LanguageTexts(DESCRIPTION_MAX, removable=True, metadata={
        "description": "Descriptions in other languages to set, by language code; null removes one."})
    new_category = fields.Boolean(metadata=NEW_CATEGORY_DOC)


class VocabularyFileSchema(Inbound):
    """A vocabulary file, as exported by ``progress-plugin vocab export --format json``."""

    format = Text(required=True, validate=validate.Equal("progress-plugin/vocabulary"))
    version = Int(strict=True, validate=Version,
                  metadata={"description": "The version it was exported from (informational)."})
    clinic_id = Text(validate=ID)
    tags = fields.List(fields.Nested(TagSchema), required=True, validate=validate.Length(min=1, max=500))

    @validates_schema
    def unique(self, data, **kwargs):
        tags = [t for t in data.get("tags", []) if isinstance(t, Tag)]
        dupes = duplicates(check_tags(tags))
        if dupes:
            raise ma.ValidationError({"tags": dupes})


def duplicates(problems):
    """Only the duplicate codes and labels of :func:`~progress_plugin.core.vocabulary.check_tags`' problems
    (the rest a schema reports itself), in the same shape."""
    if isinstance(problems, dict):
        kept = {k: duplicates(v) for k, v in problems.items()}
        return {k: v for k, v in kept.items() if v}
    return [m for m in problems if m.startswith("Duplicate")]


tag_schema = TagSchema()
tag_add_schema = TagAddSchema()
tag_edit_schema = TagEditSchema()
vocabulary_file_schema = VocabularyFileSchema()
