"""Running compressions: one file (:mod:`.compress`), many (:mod:`.batch`,
:mod:`.plan`), in worker processes (:mod:`.pool`) or on a Dask cluster
(:mod:`.cluster`), one palette over a set (:mod:`.shared`), and what a run says and
writes: :mod:`.report`, :mod:`.naming` (output names), :mod:`.written` (the files a
run writes, checked together).

Module-level imports reach the core, :mod:`kquant.io` and the shared top-level
modules, never :mod:`kquant.analysis`. Nothing is imported by this ``__init__``.
"""
