"""Examples for progress-plugin. Not part of the installed package."""
