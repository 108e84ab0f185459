"""SciPy's own ``TestConvolve2d`` and ``TestCorrelate2d`` run against numbaconv (see ``plugin``)."""
