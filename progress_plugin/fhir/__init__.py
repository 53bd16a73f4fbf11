"""FHIR R4: the resources the plugin writes, the client that writes and reads them, inbound mapping."""
