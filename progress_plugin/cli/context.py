"""What every command shares: the context (configuration and store, opened once), the
command group (clear errors, commands loaded on use), and the commands' clock."""
from __future__ import annotations

import importlib
import sys

import click

from progress_plugin.errors import ProgressPluginError, ValidationError
from progress_plugin.service import settings
from progress_plugin.service.clock import utcnow as now  # noqa: F401  (the commands' clock)
from progress_plugin.store import Store


class Context:
    def __init__(self, store_flag: str | None, config_flag: str | None):
        self.store_flag = store_flag
        self.config_flag = config_flag
        self._store = None

    @property
    def config(self) -> dict:
        return settings.read_file(settings.config_path(self.config_flag))

    @property
    def store_url(self) -> str:
        return settings.store_url(self.store_flag, self.config)

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = Store.open(self.store_url)
        return self._store


pass_ctx = click.make_pass_decorator(Context)


def service_config(obj: Context):
    """The validated service configuration (settings file, environment, --store)."""
    return settings.load(obj.config, obj.store_flag)


def open_store(cfg) -> Store:
    return Store.open(cfg.store_url)


class Group(click.Group):
    """Turns the package's errors into a clear message and exit status 2 or 1, never a traceback.

    ``lazy`` names commands by ``module:attribute``; a module is imported when its command is
    looked up (click's "lazily loading subcommands" pattern), so ``--help`` lists every
    command and running one loads only its own module."""

    def __init__(self, *args, lazy: dict[str, str] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.lazy = dict(lazy or {})

    def list_commands(self, ctx) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx, name):
        if name in self.lazy and name not in self.commands:
            module, _, attribute = self.lazy[name].partition(":")
            self.add_command(getattr(importlib.import_module(module), attribute), name)
        return super().get_command(ctx, name)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except ValidationError as exc:
            for path, msgs in exc.paths().items():
                click.echo(f"error: {path}: {' '.join(msgs)}", err=True)
            sys.exit(2)
        except ProgressPluginError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)
