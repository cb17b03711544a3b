"""Choosing a method and a k: :mod:`.comparison` (methods side by side),
:mod:`.sweep` (measures across k), :mod:`.plots` (their curves), :mod:`.html` (the
pages of a batch or a comparison).

The top layer of the library: it may import every other. Nothing is imported by
this ``__init__``.
"""
