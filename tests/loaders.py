"""Minimal stand-ins for DataLoaders, shared by the Learner and callback tests."""

from __future__ import annotations


class ListLoader:
    """The same list of (x, y) batches every epoch."""

    def __init__(self, batches):
        self.batches = batches

    def __iter__(self):
        return iter(self.batches)

    def __len__(self):
        return len(self.batches)


class TinyDLs:
    """``.train`` and ``.valid`` loaders over fixed batch lists."""

    def __init__(self, train, valid):
        self.train, self.valid = ListLoader(train), ListLoader(valid)
