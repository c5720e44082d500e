"""The engine layer: BPMN loading and validation, pack loading, persistence (used by the CLI and the web)."""
