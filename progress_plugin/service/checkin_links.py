"""Making a check-in link, the same way for the command line, the hook and the HTTP API.

A link is ``<public url>/c/<token>`` with the QR code of that URL drawn by ``segno`` as inline SVG
(no image fetched; a client scans it in the room). Without a public URL the link is the path alone
and there is no QR code: a code for a path could not be opened from a phone.
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta

import segno

from progress_plugin.errors import NotFound, ValidationError
from progress_plugin.store import Store
from progress_plugin.store import checkins

#: ``7d``, ``12h``, ``30m`` (days, hours, minutes).
EXPIRES_RE = re.compile(r"^\s*(\d{1,4})\s*([dhm])\s*$")
_UNITS = {"d": "days", "h": "hours", "m": "minutes"}


def parse_expires(value: str | None, default_days: int = 7) -> timedelta:
    """How long a link lasts, from ``7d``, ``12h`` or ``30m``; ``default_days`` when None.
    Raises ValidationError naming ``expires``."""
    if value is None or value == "":
        return timedelta(days=default_days)
    match = EXPIRES_RE.match(str(value))
    if match is None:
        raise ValidationError({"expires": ["Give a number and a unit: 7d (days), 12h (hours) or 30m (minutes)."]})
    span = timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    if not timedelta(minutes=5) <= span <= timedelta(days=90):
        raise ValidationError({"expires": ["A link lasts from 5 minutes to 90 days."]})
    return span


def path_for(token: str) -> str:
    return f"/c/{token}"


def qr_svg(url: str) -> str:
    """The QR code of ``url`` as an inline ``<svg>`` (no XML declaration), sized by its viewBox."""
    return segno.make(url, error="m").svg_inline(scale=4, border=2, light="#fff", svgclass="qr", omitsize=True,
                                                  title="QR code")


def make_link(store: Store, clinic_id: str, client_id: str, now: datetime, expires: timedelta,
              base_url: str | None, actor: str) -> dict:
    """Make a link for a client the store knows (NotFound otherwise): ``{"link_id", "url",
    "expires_at", "qr_svg"}``. ``url`` is the path alone when ``base_url`` is None, and then
    ``qr_svg`` is None. The token is in ``url`` only: it cannot be shown again."""
    if checkins.ID_RE.match(clinic_id or "") and checkins.ID_RE.match(client_id or "") \
            and not store.has_client(clinic_id, client_id):
        raise NotFound("no such client", clinic_id=clinic_id)
    link, token = checkins.create_link(store, clinic_id, client_id, now, expires, actor)
    url = (base_url.rstrip("/") if base_url else "") + path_for(token)
    return {"link_id": link.link_id, "url": url, "expires_at": link.expires_at.isoformat(),
            "qr_svg": qr_svg(url) if base_url else None}
