"""The host spec: the extension points a Python notes host calls.

A host adopts this spec with ``pm.add_hookspecs(progress_plugin.hookspecs)`` on a
``pluggy.PluginManager(PROJECT)``, loads plugins with
``pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)`` and calls hooks with keyword arguments,
e.g. ``pm.hook.note_saved(note={...})``.

Every hook takes and returns plain data: dicts, lists, str, int, bool and None. Times are
ISO 8601 strings. Field errors have marshmallow's shape: a field name maps to a list of
messages, nested for nested fields, and a position in a list is an ``int`` key, e.g.
``{"tags": {0: {"code": ["Unknown tag code 'x' in vocabulary version 1."]}}}``.

Unless a hook says it stops at the first non-None result, the host gets a list with one
result per plugin that returned something other than None.

These docstrings are the reference: ``hooks/REFERENCE.md`` is generated from them
(``progress-plugin hooks reference``).
"""
from __future__ import annotations

import pluggy

#: The pluggy project name: a host's ``PluginManager`` and every plugin's markers use it.
PROJECT = "progress_plugin"
#: The setuptools entry point group plugins register under.
ENTRY_POINT_GROUP = "progress_plugin.hosts"

hookspec = pluggy.HookspecMarker(PROJECT)


@hookspec
def configure(config):
    """The host started and hands each plugin its settings. Call it once, before any other hook.

    A plugin reads only its own key and ignores the rest. Without this call the progress
    plugin finds its store the standard way: ``$PROGRESS_PLUGIN_STORE``, then ``[store] url``
    in the config file, else ``sqlite:///progress.db``.

    :param config: The host's plugin settings, keyed by plugin. The progress plugin reads
        ``config["progress_plugin"]``: ``{"store_url": str}``, a SQLAlchemy URL of its store.
    :return: None.
    """


@hookspec
def intake_sections(clinic_id, client_id, audience, locale):
    """Sections to add to a client's intake form, as field definitions the host renders.

    :param clinic_id: The clinic's id.
    :param client_id: The client's id in the host.
    :param audience: ``"therapist"`` or ``"client"``; for ``"client"``, therapist-only fields
        and their answers are left out.
    :param locale: The language for the words a person reads in the result (labels, help, messages):
        ``"en"``, ``"hi"``, or a language tag such as ``"hi-IN"``; None for the clinic's default
        language. Pass it by keyword like every argument (``locale=None`` when the host has no
        preference). The client's own words come back exactly as written, never translated.
    :return: One section per plugin: ``{"id": str, "version": str, "url": str, "title": str,
        "fields": [field, ...], "values": dict | None}``. A field is ``{"id", "type", "label",
        "help", "required": bool, "answered_by": "client" | "therapist" | "together",
        "therapist_only": bool}`` plus, by type, ``options`` (``[{"code", "label"}]``) and
        ``other_allowed`` for ``choice``, ``fields`` and ``max_repeats`` for ``goals``, ``min``
        and ``max`` for ``integer``. Types: ``text``, ``choice``, ``boolean``, ``date``,
        ``integer`` and ``goals`` (a repeated group). Fields come in the order of the conversation; each ``label`` is worded to
        be read aloud to the client ("you") and ``help`` is a short hint for the therapist.
        ``values`` holds the client's current answers in the shape :func:`intake_submitted`
        takes (answers given to an earlier ``version`` mapped onto this one), or None before
        the first submission.
    :raises ValidationError: when an id, the audience or the locale is malformed (a host error).
    """


@hookspec(firstresult=True)
def validate_intake(clinic_id, client_id, section_id, answers, locale):
    """Check the answers to one intake section before the host stores the form.

    Stops at first non-None result: the plugin that owns ``section_id`` answers, the others
    return None.

    :param clinic_id: The clinic's id.
    :param client_id: The client's id in the host.
    :param section_id: The ``id`` of the section, from :func:`intake_sections`.
    :param answers: The answers keyed by field id, typed as the field definitions say:
        ``int`` for integers, ``bool`` for booleans, ``"YYYY-MM-DD"`` for dates, a list of
        goal dicts for ``goals``. An unanswered optional field is left out.
    :param locale: The language for the words a person reads in the result (labels, help, messages):
        ``"en"``, ``"hi"``, or a language tag such as ``"hi-IN"``; None for the clinic's default
        language. Pass it by keyword like every argument (``locale=None`` when the host has no
        preference). The client's own words come back exactly as written, never translated.
    :return: Field errors (marshmallow's shape) keyed by field id, said in the language of
        ``locale``; ``{}`` when the answers are valid. A malformed ``locale`` is an error under
        ``"locale"``.
    """


@hookspec(firstresult=True)
def intake_submitted(clinic_id, client_id, section_id, answers, author, at, locale):
    """The intake section was filled in and saved; the owning plugin records it.

    Stops at first non-None result: the plugin that owns ``section_id`` answers, the others
    return None. Submitting again updates progress: goals left out are marked dropped; a goal
    with the same ``id`` and new ``words`` is an edit (a typo fix); a goal with its own new ``id``
    and ``replaces`` (the old goal's id) is a redefinition: the old goal ends "replaced" and keeps
    its ratings under its own words, and the new one starts from its own baseline.

    :param clinic_id: The clinic's id.
    :param client_id: The client's id in the host.
    :param section_id: The ``id`` of the section, from :func:`intake_sections`.
    :param answers: The answers, as for :func:`validate_intake`.
    :param author: The id of the user who submitted it.
    :param at: When it was submitted, ISO 8601.
    An intake counts as agreed only when ``agreed`` and ``goals_reviewed`` are both true;
    otherwise it is recorded as a draft (not rejected): the panel says "not yet agreed" and no
    review is timed from it.

    :param locale: The language for the words a person reads in the result (labels, help, messages):
        ``"en"``, ``"hi"``, or a language tag such as ``"hi-IN"``; None for the clinic's default
        language. Pass it by keyword like every argument (``locale=None`` when the host has no
        preference). The client's own words come back exactly as written, never translated.
    :return: ``{"status": "recorded", "agreed": bool, "intake_id": str, "goals": [{"id",
        "rank", "words", "baseline"}]}`` (``agreed`` false: saved as a draft), or
        ``{"status": "rejected", "errors": {...}}`` with field errors said in the language of
        ``locale`` (a malformed ``locale`` is an error under ``"locale"``, and nothing is recorded).
    """


@hookspec
def note_fields(clinic_id, client_id, note_type, locale):
    """Fields to add to a session note form: for the progress plugin, the tag picker.

    :param clinic_id: The clinic's id.
    :param client_id: The client's id in the host.
    :param note_type: The host's note type, or None. Case, spaces, ``_ - . /`` and the
        spelling counselling/counseling do not matter. For psychotherapy notes and SUD
        counselling notes, and for a type the clinic's ``readable_note_types`` does not list,
        the progress plugin reads nothing and returns None.
    :param locale: The language for the words a person reads in the result (labels, help, messages):
        ``"en"``, ``"hi"``, or a language tag such as ``"hi-IN"``; None for the clinic's default
        language. Pass it by keyword like every argument (``locale=None`` when the host has no
        preference). The client's own words come back exactly as written, never translated.
    :return: ``{"id": str, "type": "tag-picker", "title": str, "language": str,
        "vocabulary_version": int, "categories": [{"id", "label", "tags": [{"code", "label",
        "description", "direction", "direction_label", "therapist_only": bool}]}], "goals":
        [{"id", "rank", "words", "whose"}], "rating": {"min": 0, "max": 10, "raters": ["client",
        "therapist", "carer"]}}``. Only active tags are listed, grouped by category in vocabulary
        order; therapist-only tags are flagged. ``language`` is the language the words are in
        (``"en"``, ``"hi"``): the title, each category's ``label`` and each ``direction_label``
        from the catalogs; each tag's ``label`` and ``description`` as the clinic's vocabulary
        gives them in that language, else in the clinic's default language, else its base text.
        The goals are the client's own words, never translated. A picked tag goes back in ``note["tags"]`` as ``{"code", "goals": [goal id]}``.
        Each goal may be rated once per rater, with or without a tag, in ``note["ratings"]`` as
        ``[{"goal", "value", "rated_by", "source"}]``: ``rated_by`` is ``client``,
        ``therapist``, or ``carer`` for a goal whose ``whose`` is ``carer``; ``source`` is
        ``session`` (the default; ``self``, the client's own check-in, is not yet accepted on a
        note). Deprecated: ratings inside a tag (``{"code", "goals", "ratings": [...]}``, each
        rating naming a goal the tag links) are still accepted for one version and are
        recorded as the note's ratings; send them in ``note["ratings"]`` instead.
    :raises ValidationError: when an id is malformed (a host error).
    """


@hookspec
def validate_note(note, locale):
    """Check a note's plugin fields before the host saves the note.

    :param note: ``{"clinic_id", "client_id", "note_id", "note_type", "session_at",
        "author", "at", "tags": [...], "ratings": [...]}``, with ISO 8601 times and ``tags``
        and ``ratings`` as :func:`note_fields` describes (ratings inside tags are deprecated).
        Never the note's text.
    :param locale: The language for the words a person reads in the result (labels, help, messages):
        ``"en"``, ``"hi"``, or a language tag such as ``"hi-IN"``; None for the clinic's default
        language. Pass it by keyword like every argument (``locale=None`` when the host has no
        preference). The client's own words come back exactly as written, never translated.
    :return: Field errors (marshmallow's shape), e.g. ``{"ratings": {1: {"rated_by":
        ["..."]}}}``; ``{}`` when the note is fine. The host merges the results
        of all plugins and shows each message next to its field.
    """


@hookspec
def note_saved(note, locale):
    """A note was saved (created or edited, not signed); record its progress tags.

    :param note: As for :func:`validate_note`. A ``signed`` key, if present, is ignored.
    :param locale: The language for the words a person reads in the result (labels, help, messages):
        ``"en"``, ``"hi"``, or a language tag such as ``"hi-IN"``; None for the clinic's default
        language. Pass it by keyword like every argument (``locale=None`` when the host has no
        preference). The client's own words come back exactly as written, never translated.
    :return: ``{"status": "saved", "note_id", "tags": [{"code", "vocabulary_version",
        "goals"}], "ratings": [{"goal", "value", "rated_by", "level"}], "review_due": None |
        {"last_reviewed": str, "cadence": str}}``; or ``{"status": "rejected", "note_id",
        "errors": {...}}`` when validation fails; or ``{"status": "refused", "note_id",
        "reason_code", "reason": str}`` for a note that is neither read nor stored (the
        refusal is audited): ``reason_code`` is ``refused-protected`` for a psychotherapy or
        SUD counselling note, ``refused-not-readable`` for a type the clinic's
        ``readable_note_types`` leaves out.
    """


@hookspec
def note_signed(note, locale):
    """A note was signed; record its final progress tags. After this they cannot change.

    :param note: As for :func:`validate_note`, with the tags as signed.
    :param locale: The language for the words a person reads in the result (labels, help, messages):
        ``"en"``, ``"hi"``, or a language tag such as ``"hi-IN"``; None for the clinic's default
        language. Pass it by keyword like every argument (``locale=None`` when the host has no
        preference). The client's own words come back exactly as written, never translated.
    :return: As for :func:`note_saved`, with ``"status": "signed"``.
    """


@hookspec
def note_deleted(clinic_id, client_id, note_id, at, locale):
    """A note was deleted; forget its tags and ratings.

    :param clinic_id: The clinic's id.
    :param client_id: The client's id in the host.
    :param note_id: The note's id in the host.
    :param at: When it was deleted, ISO 8601.
    :param locale: The language for the words a person reads in the result (labels, help, messages):
        ``"en"``, ``"hi"``, or a language tag such as ``"hi-IN"``; None for the clinic's default
        language. Pass it by keyword like every argument (``locale=None`` when the host has no
        preference). The client's own words come back exactly as written, never translated.
    :return: ``{"status": "deleted" | "not-recorded", "note_id": str}``
        (``"not-recorded"``: the plugin held nothing for this note), or ``{"status":
        "rejected", "errors": {...}}`` when an argument is malformed.
    """


@hookspec
def chart_panels(clinic_id, client_id, audience, locale):
    """Panels to show on a client's chart: for the progress plugin, the progress panel.

    :param clinic_id: The clinic's id.
    :param client_id: The client's id in the host.
    :param audience: ``"therapist"`` or ``"client"``; for ``"client"``, therapist-only tags
        and reflections are left out.
    :param locale: The language for the words a person reads in the result (labels, help, messages):
        ``"en"``, ``"hi"``, or a language tag such as ``"hi-IN"``; None for the clinic's default
        language. Pass it by keyword like every argument (``locale=None`` when the host has no
        preference). The client's own words come back exactly as written, never translated.
    :return: ``{"id": str, "title": str, "html": str, "data": dict}``: ``html`` is a
        self-contained fragment, safe to embed as is; ``data`` holds the same content as
        plain data for hosts that draw their own.
    :raises ValidationError: when an id or the audience is malformed (a host error).
    """


@hookspec
def ending_summary(clinic_id, client_id, audience, locale):
    """An ending in the client's words: a printable summary of their course of work, on demand.

    Call it at discharge or at any time: it is rendered from what is stored, nothing is kept.
    It says where each goal started and ended (in the client's own words, never translated),
    what happened along the way (every tag as plain words, setbacks included), what the client
    said progress would look like (the intake answers they may see), and their own session
    checks, as a small table, when there are any.

    :param clinic_id: The clinic's id.
    :param client_id: The client's id in the host.
    :param audience: ``"client"`` (to give to the client: no therapist-only tags, no strain
        tags unless the clinic opted in with ``client_view_shows_strain``) or ``"record"`` (for
        the clinical record: everything, therapist-only tags marked as such, the therapist's
        ratings and the client's id).
    :param locale: The language for the words a person reads in the result (labels, help, messages):
        ``"en"``, ``"hi"``, or a language tag such as ``"hi-IN"``; None for the clinic's default
        language. Pass it by keyword like every argument (``locale=None`` when the host has no
        preference). The client's own words come back exactly as written, never translated.
    :return: ``{"id": "ending", "title": str, "language": str, "audience": str, "html": str,
        "pdf": bytes | None}``: ``html`` is a whole self-contained page made for print (A4,
        nothing fetched); ``pdf`` is the same page as a PDF, or None when the plugin was
        installed without its ``pdf`` extra (WeasyPrint).
    :raises ValidationError: when an id or the audience is malformed (a host error).
    :raises NotFound: when the store has no record of the client.
    """


@hookspec
def admin_pages(clinic_id, locale):
    """Pages to add to the clinic's admin settings.

    :param clinic_id: The clinic's id.
    :param locale: The language for the words a person reads in the result (labels, help, messages):
        ``"en"``, ``"hi"``, or a language tag such as ``"hi-IN"``; None for the clinic's default
        language. Pass it by keyword like every argument (``locale=None`` when the host has no
        preference). The client's own words come back exactly as written, never translated.
    :return: ``{"id": str, "title": str, "language": str, "html": str, "data": dict}``. The
        progress plugin returns its tag vocabulary: ``html`` is a table in ``language``, with each
        tag's label in every language the plugin speaks; ``data`` is ``{"vocabulary_version": int,
        "tags": [{"code", "label", "description", "category", "direction", "audience", "status",
        "role", "labels", "descriptions"}]}``; ``role`` is ``"review"``, ``"strain"``,
        ``"repair"`` or null; ``label`` and ``description`` are the base texts (English), and
        ``labels``/``descriptions`` the tag's texts in other languages by language code, e.g.
        ``{"hi": "एक कदम आगे"}`` (``{}`` when it has none). ``data["console"]`` is how to reach the
        pages that edit the vocabulary (add, edit, retire, import, export, history):
        ``{"mount": "progress_plugin.web.console:mount", "path": "/admin/clinics/<clinic_id>/"}``.
        A Flask host resolves ``mount`` (``pkgutil.resolve_name``) and calls it once,
        ``mount(app, principal=..., store=...)``, to serve those pages behind its own login (its
        ``principal`` callable returns the signed-in person's ``{"clinic_id", "role", "user"}``,
        or None); ``path`` is the clinic's console when mounted at the default ``url_prefix``
        ``/admin``, as the service (``progress-plugin serve``) serves it.
    :raises ValidationError: when the id is malformed (a host error).
    """


@hookspec(firstresult=True)
def tag_labels(clinic_id, pairs, locale):
    """What progress tags meant when they were applied: resolve ``(code, version)`` pairs.

    Stops at first non-None result: the progress plugin owns its tag codes.

    A note records each tag's code with the vocabulary version it was applied from
    (:func:`note_saved` returns both). Ask this hook for their labels before showing old notes,
    so a retired tag still shows its label and a renamed tag shows the label it had when the
    note was written, as the progress panel does; never show the raw code.

    :param clinic_id: The clinic's id.
    :param pairs: ``[{"code": str, "version": int}, ...]``, at most 500; duplicates are allowed.
    :param locale: The language for the words a person reads in the result (labels, help, messages):
        ``"en"``, ``"hi"``, or a language tag such as ``"hi-IN"``; None for the clinic's default
        language. Pass it by keyword like every argument (``locale=None`` when the host has no
        preference). The client's own words come back exactly as written, never translated.
    :return: ``{"labels": [...]}``, one entry per pair in the order given. A known pair is
        ``{"code", "version", "found": True, "label", "description", "category", "direction",
        "audience", "therapist_only": bool, "status": "active" | "retired", "role": "review" |
        "strain" | "repair" | None, "labels": {language: str}, "descriptions": {language:
        str}}``, all as they were at that version: ``label`` and ``description`` in the
        ``locale``'s language where the tag had a text in it, else in the clinic's default
        language, else its base text; ``labels``/``descriptions`` every language it had. An
        unknown code or version is ``{"code", "version", "found": False, "problem": str}``, the
        problem in the ``locale``'s language; it never fails the other pairs. A host showing tags to a client
        leaves out those with ``"audience": "therapist"``.
    :raises ValidationError: when the clinic id or a pair is malformed, or there are more than
        500 pairs (a host error), e.g. ``{"pairs": {2: {"version": ["Missing data for required
        field."]}}}``.
    """


@hookspec(firstresult=True)
def checkin_link(clinic_id, client_id, expires, locale):
    """A check-in link for one client: they open it on their phone to say where things are now on
    each goal and how the last session was. Show it as the QR code for the client to scan in the
    room, or send the URL.

    Stops at first non-None result: the progress plugin owns check-in links.

    The link holds a random token, never the client id; only its hash is stored. It opens for
    this client alone until it expires or is revoked (``progress-plugin checkin revoke``).

    :param clinic_id: The clinic's id.
    :param client_id: The client's id in the host; the plugin must already know the client
        (an intake or a note).
    :param expires: How long the link lasts: ``"7d"``, ``"12h"`` or ``"30m"``, at most 90
        days; None for the default (``[checkin] link_days`` in the config file, else 7 days).
    :param locale: The language for the words a person reads in the result (labels, help, messages):
        ``"en"``, ``"hi"``, or a language tag such as ``"hi-IN"``; None for the clinic's default
        language. Pass it by keyword like every argument (``locale=None`` when the host has no
        preference). The client's own words come back exactly as written, never translated.
    :return: ``{"link_id": str, "url": str, "expires_at": str, "qr_svg": str | None}``. ``url``
        is shown only now: it cannot be read again. It starts with ``[checkin] public_url`` from
        the config file; without one it is the path alone (``/c/<token>``) for the host to put its
        address before, and ``qr_svg`` is None. ``qr_svg`` is an inline ``<svg>`` (no script, no
        fetch). ``link_id`` names the link in lists and for revoking.
    :raises ValidationError: when an argument is malformed, e.g. ``{"expires": ["Give a number
        and a unit: 7d (days), 12h (hours) or 30m (minutes)."]}``.
    :raises NotFound: when the plugin has no record of the client.
    """
