"""``progress-plugin tokens``: API tokens for the admin API and the progress panel."""
from __future__ import annotations

import click

from progress_plugin.cli.context import Context, Group, now, pass_ctx
from progress_plugin.cli.vocab import ENV_CLINIC, TEXT, actor_option
from progress_plugin.store import tokens as tokens_mod


@click.group(cls=Group)
def tokens():
    """API tokens for the admin API and the progress panel: one clinic and one role each."""


@tokens.command()
@click.option("--clinic", required=True, envvar=ENV_CLINIC, metavar="ID", type=TEXT,
              help="The clinic the token is for; it must exist (`clinics add` or `migrate` makes it).")
@click.option("--role", required=True, type=click.Choice(tokens_mod.ROLES),
              help="viewer may read; admin may read and edit.")
@click.option("--name", required=True, type=TEXT, help="What the token is for, e.g. 'reports dashboard'.")
@actor_option
@pass_ctx
def create(obj: Context, clinic, role, name, actor):
    """Create a token and print it once. Only its hash is stored; keep it somewhere safe.

    A clinic that does not exist is refused (exit 1), naming the commands that create it: a typo in
    --clinic makes no clinic."""
    token_id, token = tokens_mod.create(obj.store, clinic, role, name, now(), actor)
    click.echo(f"token id {token_id} ({role}, clinic {clinic}). It is shown only now:", err=True)
    click.echo(token)


@tokens.command("create-metrics")
@click.option("--name", required=True, type=TEXT, help="What reads it, e.g. 'prometheus'.")
@actor_option
@pass_ctx
def create_metrics(obj: Context, name, actor):
    """Create a token for GET /metrics and print it once: it opens /metrics (counts for the whole
    store, no client data) and nothing else, and needs no clinic."""
    token_id, token = tokens_mod.create_metrics(obj.store, name, now(), actor)
    click.echo(f"token id {token_id} (metrics). It is shown only now:", err=True)
    click.echo(token)


@tokens.command("list")
@click.option("--clinic", envvar=ENV_CLINIC, metavar="ID", type=TEXT, help="Only this clinic's tokens.")
@pass_ctx
def list_tokens(obj: Context, clinic):
    """List tokens: id, clinic, role, name, created, revoked, refused attempts. Never a secret.

    Then the refused attempts per clinic whose URL was called (``*``: a clinic that does not exist).
    """
    per_clinic, per_token = tokens_mod.failures(obj.store, clinic)
    for r in tokens_mod.list_tokens(obj.store, clinic):
        revoked = f"revoked {r['revoked_at']:%Y-%m-%d %H:%M}Z" if r["revoked_at"] else "active"
        click.echo(f"{r['token_id']}  {r['clinic_id']:<16} {r['role']:<7} {revoked:<26} "
                   f"refused={per_token.get(r['token_id'], 0):<5} {r['name']}")
    click.echo("refused token attempts: " + (" ".join(f"{k}={v}" for k, v in sorted(per_clinic.items())) or "none"))


@tokens.command()
@click.argument("token_id", type=TEXT)
@click.option("--clinic", envvar=ENV_CLINIC, metavar="ID", type=TEXT,
              help="Only if the token belongs to this clinic.")
@actor_option
@pass_ctx
def revoke(obj: Context, token_id, clinic, actor):
    """Revoke TOKEN_ID (the id from `tokens list`); it stops working at once."""
    tokens_mod.revoke(obj.store, token_id, now(), actor, clinic)
    click.echo(f"revoked {token_id}")
