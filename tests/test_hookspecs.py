"""The host spec: the hooks it promises, which stop at the first result, and the plugin's fit to it."""
from __future__ import annotations

import inspect

import progress_plugin.hosts.plugin as plugin
from progress_plugin import hookspecs
from progress_plugin.hosts import reference as hookdoc
from progress_plugin.hosts.manager import make_manager

HOOKS = {
    "configure": ("config",),
    "intake_sections": ("clinic_id", "client_id", "audience", "locale"),
    "validate_intake": ("clinic_id", "client_id", "section_id", "answers", "locale"),
    "intake_submitted": ("clinic_id", "client_id", "section_id", "answers", "author", "at", "locale"),
    "note_fields": ("clinic_id", "client_id", "note_type", "locale"),
    "validate_note": ("note", "locale"),
    "note_saved": ("note", "locale"),
    "note_signed": ("note", "locale"),
    "note_deleted": ("clinic_id", "client_id", "note_id", "at", "locale"),
    "chart_panels": ("clinic_id", "client_id", "audience", "locale"),
    "ending_summary": ("clinic_id", "client_id", "audience", "locale"),
    "admin_pages": ("clinic_id", "locale"),
    "tag_labels": ("clinic_id", "pairs", "locale"),
    "checkin_link": ("clinic_id", "client_id", "expires", "locale"),
}


def spec_names(pm):
    return {name for name in dir(pm.hook) if not name.startswith("_")}


def test_the_spec_has_exactly_the_documented_hooks_and_arguments():
    pm = make_manager(load_entrypoints=False)
    assert spec_names(pm) == set(HOOKS)
    for name, args in HOOKS.items():
        assert getattr(pm.hook, name).spec.argnames == args, name


def test_only_the_section_owned_hooks_tag_labels_and_checkin_link_stop_at_the_first_result():
    pm = make_manager(load_entrypoints=False)
    first = {name for name in HOOKS if getattr(pm.hook, name).spec.opts["firstresult"]}
    assert first == {"validate_intake", "intake_submitted", "tag_labels", "checkin_link"}


def test_every_hook_has_params_return_and_firstresult_wording():
    assert hookdoc.problems() == []


def test_the_plugin_implements_every_hook_with_the_spec_arguments():
    pm = make_manager(load_entrypoints=False, plugins=[plugin])
    for name, args in HOOKS.items():
        impls = getattr(pm.hook, name).get_hookimpls()
        assert [i.plugin for i in impls] == [plugin], name
        assert tuple(inspect.signature(getattr(plugin, name)).parameters) == args, name


def test_markers_share_the_project_name():
    assert hookspecs.hookspec.project_name == plugin.hookimpl.project_name == hookspecs.PROJECT
