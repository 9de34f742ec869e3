"""The local cloud: OCI services on loopback for development and tests."""
