"""gunicorn settings for the service, for ``-c python:progress_plugin.web.gunicorn_conf``::

    gunicorn -c python:progress_plugin.web.gunicorn_conf -w 4 -b 0.0.0.0:8080 'progress_plugin.web.app:create_app()'

The access log (off unless ``--access-logfile`` is given) never holds a query string, a
referrer or a cookie: see :mod:`progress_plugin.web.accesslog`.
"""
from progress_plugin.web.accesslog import GUNICORN_FORMAT

access_log_format = GUNICORN_FORMAT
worker_class = "sync"               # the best p99 on SQLite (bench/README.md)
