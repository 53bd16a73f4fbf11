"""Access logs without query strings (or cookies): a query may carry a one-time link code, and
without the token of a check-in link, which is in the path (``/c/<token>`` is logged ``/c/…``).

- :data:`GUNICORN_FORMAT` is the access log format of ``progress_plugin/web/gunicorn_conf.py``:
  method, path and protocol, never the query string, the referrer or a header that carries
  credentials.
- :func:`install` (called by :func:`progress_plugin.web.app.create_app`) adds a filter to the
  ``gunicorn.access`` and ``werkzeug`` loggers that takes the query string out of every
  request line and URL they log, and the token out of every ``/c/<token>`` path, whatever format
  an operator chose, and blanks cookies and
  ``Authorization``. It covers ``progress-plugin serve`` (werkzeug) and gunicorn alike.
"""
from __future__ import annotations

import logging
import re
from collections.abc import Mapping

GUNICORN_FORMAT = '%(h)s %(l)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s "%(a)s" %(M)sms'
LOGGERS = ("gunicorn.access", "werkzeug")

_QUERY = re.compile(r"(/[^\s?\"']*)\?[^\s\"']*")
_CHECKIN = re.compile(r"(/(?:c|%63)/)[^\s?\"'/]+", re.IGNORECASE)   # %63: an escaped "c" routes there too
_BLANKED = ("{cookie}i", "{authorization}i", "{set-cookie}o", "{http_cookie}e", "{http_authorization}e")


def strip_query(text: str) -> str:
    """``text`` with the query string taken off every path in it (``/a?code=x`` -> ``/a``), and the
    token of a check-in link out of its path (``/c/<token>`` -> ``/c/…``)."""
    if "/c/" in text or "/%63/" in text.lower():
        text = _CHECKIN.sub("\\1…", text)
    return _QUERY.sub(r"\1", text) if "?" in text else text


class NoQueryStrings(logging.Filter):
    """Takes query strings out of a log record's message and arguments (in place; never drops a record)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = strip_query(record.msg)
        args = record.args
        if isinstance(args, Mapping):                 # gunicorn: one mapping of atoms
            for key in list(args):
                value = args[key]
                if key == "q" or key.endswith("query_string}e"):
                    args[key] = ""
                elif key in _BLANKED:
                    args[key] = "-"
                elif isinstance(value, str):
                    args[key] = strip_query(value)
        elif isinstance(args, tuple):                 # werkzeug: the request line among the arguments
            record.args = tuple(strip_query(a) if isinstance(a, str) else a for a in args)
        return True


def install() -> None:
    """Add the filter to the access loggers once per process."""
    for name in LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, NoQueryStrings) for f in logger.filters):
            logger.addFilter(NoQueryStrings())
