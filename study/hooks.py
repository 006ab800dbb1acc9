"""Hook points: where study/ hands work to an app above it (DESIGN §3: a lower layer that must
react to a higher one does it through a declared hook, never an upward import).

A new protocol settings version or visit schedule version changes derived values on forms, and
the forms, their derivations and the outbox live in crf/, above study/; the schedule of
assessments names forms. So study/ declares here what it needs from crf/; crf/ registers the one
implementation of each in `CrfConfig.ready`:

- `request_settings_rederivation(settings_id=…)`: in the publisher's transaction, request the
  background re-derivation of the forms dated on or after a new protocol settings version's
  effective date (crf: an outbox row for the task "study.tasks.rederive_for_settings").
- `rederive_for_setting(kind=…, version=…, user=…)`: in the caller's transaction, re-derive what
  depends on a new version of a study-build setting (the visit schedule…); returns the rows
  changed (crf: `crf.rederive.rederive_for_setting`, which runs the consumers the apps declared).
- `form_titles()`: every case report form's title by its CRF code — the forms a schedule visit
  may expect (the visit schedule build page; crf: `crf.registry.form_titles`).

A hook nobody registered fails loudly, never skips: the system check `study.E001` at start-up
(`runserver`, `migrate`, `check`, the test run) and `HookNotRegistered` at its first call.

`Hook` is the house's one kind of hook point: crf/ (`crf/hooks.py`, check `crf.E002`) and
datamanagement/ (`datamanagement/hooks.py`, check `datamanagement.E001`) declare theirs with it,
each with its own start-up check built by `unregistered`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django.core import checks
from django.core.exceptions import ImproperlyConfigured


class HookNotRegistered(ImproperlyConfigured):
    """A hook point was called but no app registered its implementation."""


class Hook:
    """One hook point with exactly one implementation, registered at app load."""

    def __init__(
        self,
        name: str,
        *,
        registered_by: str,
        declared_in: str = "study.hooks",
        registered_where: str = "its AppConfig.ready",
    ) -> None:
        self.name = name
        self.registered_by = registered_by
        self.declared_in = declared_in
        self.registered_where = registered_where
        self._implementation: Callable[..., Any] | None = None

    @property
    def path(self) -> str:
        return f"{self.declared_in}.{self.name}"

    @property
    def hint(self) -> str:
        return f"{self.registered_by} registers it in {self.registered_where}"

    def __repr__(self) -> str:
        return f"<Hook {self.path}>"

    @property
    def implementation(self) -> Callable[..., Any] | None:
        return self._implementation

    def register(self, implementation: Callable[..., Any]) -> Callable[..., Any]:
        """Register the implementation (usable as a decorator). Registering the same function
        again is harmless (`ready` may run twice in tests); a second, different one is refused."""
        if self._implementation is not None and self._implementation is not implementation:
            raise ImproperlyConfigured(
                f"{self.path} is already registered "
                f"({self._implementation.__module__}.{self._implementation.__qualname__})"
            )
        self._implementation = implementation
        return implementation

    def __call__(self, **kwargs: Any) -> Any:
        if self._implementation is None:
            raise HookNotRegistered(f"{self.path} has no implementation: {self.hint}")
        return self._implementation(**kwargs)


request_settings_rederivation = Hook("request_settings_rederivation", registered_by="crf")
rederive_for_setting = Hook("rederive_for_setting", registered_by="crf")
form_titles = Hook("form_titles", registered_by="crf")

HOOKS: tuple[Hook, ...] = (request_settings_rederivation, rederive_for_setting, form_titles)


def unregistered(hooks: Iterable[Hook], *, check_id: str) -> list[checks.CheckMessage]:
    """The start-up check's errors (`check_id`) for each of `hooks` nobody registered."""
    return [
        checks.Error(
            f"{hook.path} has no implementation.",
            hint=f"{hook.hint}; is {hook.registered_by} installed?",
            obj=hook,
            id=check_id,
        )
        for hook in hooks
        if hook.implementation is None
    ]


def system_check(app_configs: object = None, **kwargs: object) -> list[checks.CheckMessage]:
    """study.E001: every hook point of study/ has its implementation."""
    return unregistered(HOOKS, check_id="study.E001")
