"""gunicorn settings for the service, for ``-c python:progress_plugin.web.gunicorn_conf``::

    gunicorn -c python:progress_plugin.web.gunicorn_conf -w 4 -b 0.0.0.0:8080 'progress_plugin.web.app:create_app()'

The access log (off unless ``--access-logfile`` is given) never holds a query string, a
referrer or a cookie: see :mod:`progress_plugin.web.accesslog`.
"""
from progress_plugin.web.accesslog import GUNICORN_FORMAT

access_log_format = GUNICORN_FORMAT
# Threads of a worker share one group commit of their inbox rows (progress_plugin.store.group_commit),
# and keep HTTP connections alive: more events per second and a lower p99 than sync workers, on
# SQLite and PostgreSQL alike (bench/README.md, "Webhook ingest").
worker_class = "gthread"
threads = 4
