"""Shared pytest configuration."""

import pytest
from hypothesis import settings

# Kernels compile on first use; that must not count against hypothesis' deadline.
settings.register_profile("numbaconv", deadline=None, print_blob=True)
settings.load_profile("numbaconv")


@pytest.fixture(scope="session")
def dask_client():
    """A real ``dask.distributed`` cluster of 2 worker processes x 1 thread, started once per
    session (workers take seconds to start and to load the compiled kernels) and used as the
    default client by the tests that request it."""
    pytest.importorskip("distributed", reason="numbaconv.dask needs the 'dask' extra")
    from numbaconv.dask import local_client

    client = local_client(n_workers=2, threads_per_worker=1)  # NUMBA_NUM_THREADS=1 on 2 cores
    try:
        yield client
    finally:
        client.close()
        client.cluster.close()
