"""SMART App Launch 2.x: the plugin as an app inside an EHR's chart."""
