"""Shared package of the OCI Functions bundle."""
