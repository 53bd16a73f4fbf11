"""progress-plugin: defining progress together, and per-note progress tags."""
from progress_plugin.errors import ProgressPluginError, ValidationError

__version__ = "0.1.0"

__all__ = ["ProgressPluginError", "ValidationError", "__version__"]
