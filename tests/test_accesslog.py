"""Access log lines carry no query string (a one-time link code), referrer query or cookie."""
import datetime
import logging
from types import SimpleNamespace

import pytest
from gunicorn import glogging
from gunicorn.config import Config

from progress_plugin.web import accesslog
from progress_plugin.web import gunicorn_conf
from progress_plugin.web.app import create_app
from progress_plugin.store import Store

CODE = "CANARY-code-0123456789abcdefghijklmnopqrstuvwxyz"
SESSION = "CANARY-session-abcdefghijklmnopqrstuvwxyz0123"


def gunicorn_line(tmp_path, log_format=None) -> str:
    """One access log line written by gunicorn's own logger, for a link opened from the chart."""
    cfg = Config()
    path = tmp_path / "access.log"
    cfg.set("accesslog", str(path))
    if log_format is not None:
        cfg.set("access_log_format", log_format)
    logger = glogging.Logger(cfg)
    environ = {"REQUEST_METHOD": "GET", "RAW_URI": f"/cds/progress.html?code={CODE}", "PATH_INFO": "/cds/progress.html",
               "QUERY_STRING": f"code={CODE}", "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1",
               "HTTP_REFERER": f"https://ehr.example.org/chart?code={CODE}", "HTTP_USER_AGENT": "test-browser",
               "HTTP_COOKIE": f"pp_cds_session={SESSION}"}
    response = SimpleNamespace(status="303 SEE OTHER", sent=0, headers=[("Set-Cookie", f"pp_cds_session={SESSION}")])
    request = SimpleNamespace(headers=[("COOKIE", f"pp_cds_session={SESSION}"), ("REFERER", environ["HTTP_REFERER"])])
    logger.access(response, request, environ, datetime.timedelta(milliseconds=3))
    for handler in logging.getLogger("gunicorn.access").handlers:
        handler.flush()
    return path.read_text()


@pytest.mark.parametrize("log_format", [
    None,                                                        # gunicorn's default: the request line, the referrer
    '"%(r)s" %(q)s %({cookie}i)s %({set-cookie}o)s %({query_string}e)s %({raw_uri}e)s',
])
def test_with_the_app_loaded_gunicorn_logs_no_query_string_or_cookie(tmp_path, sqlite_url, log_format):
    create_app(Store.open(sqlite_url))                           # as each gunicorn worker does
    line = gunicorn_line(tmp_path, log_format)
    assert "/cds/progress.html" in line
    assert CODE not in line and SESSION not in line and "code=" not in line


def test_the_shipped_gunicorn_format_names_no_query_referrer_or_header(tmp_path):
    assert gunicorn_conf.access_log_format == accesslog.GUNICORN_FORMAT
    for atom in ("%(r)s", "%(q)s", "%(f)s", "i)s", "e)s", "o)s"):
        assert atom not in accesslog.GUNICORN_FORMAT
    line = gunicorn_line(tmp_path, accesslog.GUNICORN_FORMAT)
    assert '"GET /cds/progress.html HTTP/1.1" 303 0 "test-browser"' in line and CODE not in line


@pytest.mark.parametrize("text,expected", [
    (f"GET /cds/progress.html?code={CODE} HTTP/1.1", "GET /cds/progress.html HTTP/1.1"),
    (f"https://x.example.org/a/b/?code={CODE}&y=1", "https://x.example.org/a/b/"),
    ("no query here", "no query here"),
])
def test_strip_query(text, expected):
    assert accesslog.strip_query(text) == expected
