"""The service: settings, the runtime over the store, the worker, backfill, summaries."""
