"""The ``progress-plugin`` command: one module per command group."""
