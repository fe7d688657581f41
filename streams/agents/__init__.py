"""streams/agents."""
