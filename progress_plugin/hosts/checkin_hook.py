"""The ``checkin_link`` hook's body: a check-in link for one client (see :mod:`progress_plugin.hookspecs`)."""
from __future__ import annotations

import marshmallow as ma

from progress_plugin.errors import ValidationError
from progress_plugin.service import checkin_links, checkin_settings, settings


def checkin_link(rt, clinic_id, client_id, expires, words) -> dict:
    """Make the link on ``rt``'s store; the URL starts with ``[checkin] public_url`` from the config
    file, else it is the path alone. Field errors are said in ``words``' language."""
    problems = {}
    for field, value in (("clinic_id", clinic_id), ("client_id", client_id)):
        if not isinstance(value, str) or not value:
            problems[field] = [words.say("Not a valid string.")]
    if expires is not None and not isinstance(expires, str):
        problems["expires"] = [words.say("Not a valid string.")]
    try:
        config = checkin_settings.from_raw(settings.read_file(settings.config_path()))
    except ma.ValidationError as exc:
        problems["checkin"] = exc.messages
        config = None
    if problems:
        raise ValidationError(problems)
    return checkin_links.make_link(rt.store, clinic_id, client_id, rt.clock(),
                                   checkin_links.parse_expires(expires, config.link_days), config.public_url, "hook")
