"""study/'s declared hooks (issue 23; DESIGN §3): crf/ implements them; a hook nobody registered
fails the system checks at start-up and its first call, never skips quietly."""

from __future__ import annotations

import re
from datetime import date

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from crf import hooks as crf_hooks
from crf import rederive, registry
from crf.models import OutboxMessage
from datamanagement import hooks as dm_hooks
from study import hooks
from study.models import ProtocolSettings
from study.protocol import publish_settings
from subjects import hooks as subject_hooks
from tests.factories import protocol_v1


def test_crf_registers_every_hook_of_study():
    assert [(h.name, h.implementation) for h in hooks.HOOKS] == [
        ("request_settings_rederivation", rederive.request_rederivation_for_settings),
        ("rederive_for_setting", rederive.rederive_for_setting),
        ("form_titles", registry.form_titles),
    ]
    assert hooks.form_titles()["PS"] == "Performance status"
    assert hooks.system_check() == []
    # the same implementation again is harmless (ready may run twice); a second one is refused
    hooks.rederive_for_setting.register(rederive.rederive_for_setting)
    with pytest.raises(ImproperlyConfigured, match="already registered"):
        hooks.rederive_for_setting.register(lambda **kwargs: [])


def test_a_hook_nobody_registered_fails_the_checks_and_its_first_call(monkeypatch, study, users_a):
    admin = users_a["study_admin"]
    protocol_v1(study, effective_from=date(2026, 1, 1))
    # crf forgot its registration: the hook as it would be without it
    monkeypatch.setattr(hooks.request_settings_rederivation, "_implementation", None)
    assert [(e.id, e.obj) for e in hooks.system_check()] == [("study.E001", hooks.request_settings_rederivation)]
    with pytest.raises(SystemCheckError, match=r"study\.E001"):
        call_command("check")
    with pytest.raises(hooks.HookNotRegistered, match="request_settings_rederivation"):
        publish_settings(actor=admin, study=study, effective_from=date(2026, 6, 1), values={}, reason="amendment 2")
    # the publication rolled back whole: no version without its re-derivation
    assert ProtocolSettings.objects.filter(study=study).count() == 1
    assert OutboxMessage.objects.count() == 0


def test_an_unregistered_setting_hook_refuses_the_call():
    hook = hooks.Hook("rederive_for_setting", registered_by="crf")
    with pytest.raises(hooks.HookNotRegistered, match=r"crf registers it in its AppConfig\.ready"):
        hook(kind="visit_schedule", version=None, user=None)


#: every hook point of the house (`study.hooks.Hook`) with the start-up check that covers it
EVERY_HOOK = [
    (hook, module, check_id)
    for module, check_id in (
        (hooks, "study.E001"),
        (crf_hooks, "crf.E002"),
        (dm_hooks, "datamanagement.E001"),
        (subject_hooks, "subjects.E001"),
    )
    for hook in module.HOOKS
]


@pytest.mark.parametrize("hook, module, check_id", EVERY_HOOK, ids=[hook.path for hook, _m, _c in EVERY_HOOK])
def test_every_hook_left_unregistered_fails_its_start_up_check_and_its_first_call(monkeypatch, hook, module, check_id):
    assert module.system_check() == []
    monkeypatch.setattr(hook, "_implementation", None)
    assert [(e.id, e.obj) for e in module.system_check()] == [(check_id, hook)]
    with pytest.raises(SystemCheckError, match=rf"{re.escape(check_id)}.*{re.escape(hook.path)}"):
        call_command("check")
    with pytest.raises(
        hooks.HookNotRegistered, match=rf"{re.escape(hook.path)} has no implementation: {hook.registered_by}"
    ):
        hook()
