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
    import logging

    from distributed import Client, LocalCluster

    # One Numba thread per worker: two workers on two cores must not oversubscribe them.
    cluster = LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        silence_logs=logging.ERROR,
        env={"NUMBA_NUM_THREADS": "1"},
    )
    client = Client(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()
