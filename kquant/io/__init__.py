"""Files: decoding and encoding images with Pillow, animations, GIF, palettes,
pictures.

- :mod:`.decoding`: the context every file is opened and decoded in;
- :mod:`.images`: loading, output formats, atomic writes;
- :mod:`.animation`: every frame of an animation quantized and written;
- :mod:`.gif`: GIF frame extents and the frame-by-frame GIF writer;
- :mod:`.palettes`: palette files and swatches;
- :mod:`.drawing`: what pictures share (font, checkerboard, labels).

Module-level imports reach the core and the shared top-level modules, never
:mod:`kquant.run` or :mod:`kquant.analysis`. Nothing is imported by this
``__init__``.
"""
