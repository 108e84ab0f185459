"""Shared pytest configuration."""

from hypothesis import settings

# Kernels compile on first use; that must not count against hypothesis' deadline.
settings.register_profile("numbaconv", deadline=None, print_blob=True)
settings.load_profile("numbaconv")
