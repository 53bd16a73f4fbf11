"""The manager helper: the spec, entry-point loading, inline registration, loud failures."""
from __future__ import annotations

from importlib.metadata import entry_points

import pluggy
import pytest

import progress_plugin.hosts.plugin
from progress_plugin import hookspecs
from progress_plugin.hosts.manager import make_manager

hookimpl = pluggy.HookimplMarker(hookspecs.PROJECT)


def test_the_installed_distribution_declares_the_entry_point():
    (ep,) = [e for e in entry_points(group=hookspecs.ENTRY_POINT_GROUP) if e.name == "progress"]
    assert ep.value == "progress_plugin.hosts.plugin"
    assert ep.dist.name == "progress-plugin"


def test_make_manager_loads_the_plugin_by_its_entry_point():
    pm = make_manager()
    assert pm.get_plugin("progress") is progress_plugin.hosts.plugin
    assert pm.project_name == hookspecs.PROJECT
    dist = dict((pm.get_name(p), d) for p, d in pm.list_plugin_distinfo())
    assert dist["progress"].project_name == "progress-plugin"


def test_without_entry_points_nothing_is_registered():
    pm = make_manager(load_entrypoints=False)
    assert pm.get_plugins() == set()
    assert pm.hook.note_fields(locale=None, clinic_id="c", client_id="p", note_type=None) == []


def test_a_hook_the_spec_does_not_have_fails_at_check_pending():
    class Typo:
        @hookimpl
        def note_save(self, note):          # the spec has note_saved
            return {}

    with pytest.raises(pluggy.PluginValidationError, match="note_save"):
        make_manager(load_entrypoints=False, plugins=[Typo()])


def test_a_hook_with_an_argument_the_spec_lacks_fails_at_registration():
    class Extra:
        @hookimpl
        def note_saved(self, note, text):
            return {}

    with pytest.raises(pluggy.PluginValidationError, match="text"):
        make_manager(load_entrypoints=False, plugins=[Extra()])


def test_inline_plugins_by_name_and_firstresult_by_section():
    class Other:
        @hookimpl
        def validate_intake(self, clinic_id, client_id, section_id, answers):
            return {"mood": ["Required."]} if section_id == "mood" else None

    pm = make_manager(load_entrypoints=False, plugins=[("other", Other())])
    assert pm.get_plugin("other") is not None
    assert pm.hook.validate_intake(locale=None, clinic_id="c", client_id="p", section_id="mood", answers={}) == {
        "mood": ["Required."]}
    assert pm.hook.validate_intake(locale=None, clinic_id="c", client_id="p", section_id="nobody", answers={}) is None
