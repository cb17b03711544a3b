"""The ``kquant`` command line: a thin layer over the library.

- :mod:`kquant.cli.options`: every option and argument, declared once;
- :mod:`kquant.cli.errors`: the library's errors as one-line click errors;
- :mod:`kquant.cli.compress` and :mod:`kquant.cli.analysis`: the commands;
- :mod:`kquant.cli.runner`: running compress jobs, in process or in workers, with
  progress bars, report rows and the summary;
- :mod:`kquant.cli.group`: the ``kquant`` group, which registers the commands, and
  :func:`main`, the console script's entry point.

Imports run one way: options and errors <- commands <- group. Nothing outside this
package imports click or tqdm (a test checks it).
"""

from kquant.cli.group import cli, main

__all__ = ["cli", "main"]
