"""connectors/ocpp."""
