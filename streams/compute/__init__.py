"""streams/compute."""
