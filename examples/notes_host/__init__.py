"""An example Python notes host that gets its progress features through the host spec.

    python -m examples.notes_host --db notes.db --plugin-store sqlite:///progress.db [--language hi]

Its pages speak English and Hindi (``?lang=``, else ``Accept-Language``, else ``--language``).
"""
from examples.notes_host.app import create_host_app

__all__ = ["create_host_app"]
