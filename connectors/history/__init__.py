"""Pilot history from files: meter readings and OCPP message logs as canonical records."""
