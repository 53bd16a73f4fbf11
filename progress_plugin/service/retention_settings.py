"""The ``[retention]`` section of the config file: how long rows are kept, and how they are pruned.

```toml
[retention]
days = 30                    # done inbox and outbox rows are removed this long after they came in
audit_days = 2190            # audit rows: 6 years; removed only by `progress-plugin audit prune`
batch = 1000                 # rows per delete, each in its own short transaction
prune_every_minutes = 60     # each worker prunes this often (0: never; run `progress-plugin prune`)
partition_days = 7           # PostgreSQL: the time range of one partition of the inbox and the outbox
partitions_ahead_days = 28   # PostgreSQL: partitions are made this far ahead of now
lock_timeout_ms = 1000       # PostgreSQL: how long a partition's drop waits for its lock (else: next run)
```

Deduplication needs a done row only as long as a host may send the same event again (Standard
Webhooks senders retry for a day or three); ``days`` keeps them a month. Failed inbox rows and
dead outbox rows (dead letters) are never pruned: they wait for ``inbox``/``outbox retry`` or
``drop``. Pending rows are never pruned. The audit log keeps its rows for ``audit_days``
(6 years, a common HIPAA documentation period) and only ``progress-plugin audit prune`` removes them.
"""
from __future__ import annotations

from dataclasses import dataclass

import marshmallow as ma
from marshmallow import fields, validate

from progress_plugin.errors import ConfigError, summarize


@dataclass(frozen=True)
class RetentionConfig:
    days: int = 30
    audit_days: int = 2190
    batch: int = 1000
    prune_every_minutes: float = 60
    partition_days: int = 7
    partitions_ahead_days: int = 28
    lock_timeout_ms: int = 1000


class RetentionSection(ma.Schema):
    class Meta:
        unknown = ma.RAISE

    days = fields.Integer(load_default=RetentionConfig.days, validate=validate.Range(min=1, max=3650))
    audit_days = fields.Integer(load_default=RetentionConfig.audit_days, validate=validate.Range(min=1, max=36500))
    batch = fields.Integer(load_default=RetentionConfig.batch, validate=validate.Range(min=10, max=100000))
    prune_every_minutes = fields.Float(load_default=RetentionConfig.prune_every_minutes,
                                       validate=validate.Range(min=0, max=7 * 24 * 60))
    partition_days = fields.Integer(load_default=RetentionConfig.partition_days, validate=validate.Range(min=1, max=92))
    partitions_ahead_days = fields.Integer(load_default=RetentionConfig.partitions_ahead_days,
                                           validate=validate.Range(min=1, max=366))
    lock_timeout_ms = fields.Integer(load_default=RetentionConfig.lock_timeout_ms,
                                     validate=validate.Range(min=10, max=60000))

    @ma.validates_schema
    def _windows(self, data, **kwargs):
        if data["audit_days"] < data["days"]:       # both there: load defaults, and skipped on a field's error
            raise ma.ValidationError("Keep audit rows at least as long as inbox and outbox rows.", "audit_days")

    @ma.post_load
    def _config(self, data, **kwargs) -> RetentionConfig:
        return RetentionConfig(**data)


def retention_config(raw: dict) -> RetentionConfig:
    """The ``[retention]`` section of a parsed config file alone (``prune`` needs no secret). Raises ConfigError."""
    try:
        return RetentionSection().load(raw.get("retention") or {})
    except ma.ValidationError as exc:
        raise ConfigError("configuration: " + summarize({"retention": exc.messages})) from None
