"""The array-to-array core: colors in, a palette and indices out; no files.

- :mod:`.colors`: colors as uint32 keys, ``ColorHistogram``, lookups;
- :mod:`.histogram`: ``Histogram``, what every palette is fitted on; ``Prepared``;
- :mod:`.codebook`: fitting a codebook coarse to fine (scikit-learn);
- :mod:`.fit`: step one, a ``Histogram`` to a ``Palette``;
- :mod:`.remap`: step two, an image onto a ``Palette``, dithered or not;
- :mod:`.quantizer`: ``quantize`` (both steps) and ``quantize_to_target``;
- :mod:`.mapping`, :mod:`.spaces`, :mod:`.dither`, :mod:`.dithermap`,
  :mod:`.metrics`, :mod:`.merging`, :mod:`.memory`: what those steps use.

Module-level imports here reach only :mod:`kquant.defaults`, :mod:`kquant.errors`,
:mod:`kquant.settings`, :mod:`kquant.stages` and each other (tests/test_layers.py).
Nothing is imported by this ``__init__``: ``import kquant.core.fit`` loads what it
needs and no more.
"""
