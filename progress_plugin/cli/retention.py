"""``progress-plugin prune`` and ``progress-plugin audit prune``: retention, run by hand or from cron.

The worker runs the same prune every ``[retention] prune_every_minutes``; the audit log is
pruned only by its own command.
"""
from __future__ import annotations

import click

from progress_plugin.cli.context import Context, now, pass_ctx
from progress_plugin.service.retention_settings import retention_config
from progress_plugin.store import retention


@click.command()
@click.option("--dry-run", is_flag=True, help="Count what would be removed; change nothing.")
@pass_ctx
def prune(obj: Context, dry_run):
    """Remove done inbox and outbox rows older than [retention] days (default 30).

    Pending rows, failed inbox rows and dead outbox rows (dead letters) are kept until they are
    handled (`inbox|outbox retry|drop`). On PostgreSQL whole weekly partitions are dropped; elsewhere
    rows go in small batches. The audit log is not touched: `progress-plugin audit prune`."""
    policy = retention_config(obj.config)
    done = retention.prune(obj.store.engine, now(), policy, dry_run=dry_run)
    verb = "would remove" if dry_run else "removed"
    for table, n in done.rows.items():
        click.echo(f"{table}: {verb} {n} rows older than {policy.days} days")
    if done.dropped:
        click.echo(f"partitions {'to drop' if dry_run else 'dropped'}: {', '.join(done.dropped)}")
    if done.held:
        click.echo(f"partitions kept for pending, failed or dead rows: {', '.join(done.held)}")
    if done.made:
        click.echo(f"partitions made ahead: {len(done.made)}")
    click.echo(f"took {done.seconds:.2f} s; longest lock {done.longest_lock * 1000:.0f} ms; "
               f"longest delete batch {done.longest_batch * 1000:.0f} ms")


@click.group()
def audit():
    """The audit log: who changed what, when (ids and codes only)."""


@audit.command("prune")
@click.option("--dry-run", is_flag=True, help="Count what would be removed; change nothing.")
@pass_ctx
def audit_prune(obj: Context, dry_run):
    """Remove audit rows older than [retention] audit_days (default 2190, 6 years)."""
    policy = retention_config(obj.config)
    done = retention.prune_audit(obj.store.engine, now(), policy.audit_days, policy.batch, dry_run=dry_run)
    click.echo(f"audit_log: {'would remove' if dry_run else 'removed'} {done.rows['audit_log']} rows older than "
               f"{policy.audit_days} days")
