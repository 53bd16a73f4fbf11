"""A plugin manager with the host spec, for hosts and tests.

    pm = make_manager()                       # plugins installed under the entry point group
    pm.hook.note_fields(locale=None, clinic_id="c", client_id="p1", note_type=None)

    pm = make_manager(load_entrypoints=False, plugins=[my_test_plugin])   # inline registration

Every registered hook implementation must match a hook of the spec: an unknown hook name
raises ``pluggy.PluginValidationError`` here, not at the first call.
"""
from __future__ import annotations

from typing import Iterable

import pluggy

from progress_plugin import hookspecs


def make_manager(load_entrypoints: bool = True, plugins: Iterable = ()) -> pluggy.PluginManager:
    """A ``PluginManager`` with the host spec, its plugins registered and checked.

    :param load_entrypoints: load the plugins installed under ``hookspecs.ENTRY_POINT_GROUP``.
    :param plugins: more plugins to register: objects, or ``(name, object)`` pairs.
    :raises pluggy.PluginValidationError: when a plugin implements a hook the spec lacks, or
        a hook with arguments the spec does not have.
    """
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    if load_entrypoints:
        pm.load_setuptools_entrypoints(hookspecs.ENTRY_POINT_GROUP)
    for plugin in plugins:
        name, obj = plugin if isinstance(plugin, tuple) else (None, plugin)
        pm.register(obj, name=name)
    pm.check_pending()
    return pm
