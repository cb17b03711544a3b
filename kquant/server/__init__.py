"""The kquant server: start-up paid once for many small calls.

A per-user, per-environment process that has imported numpy, Pillow, scikit-learn
and kquant once, with one BLAS/OpenMP thread and no other thread, and forks one child
per ``kquant`` call (the pattern of ``multiprocessing``'s fork server). The child
takes the caller's argv, working directory, environment, umask, limits, ignored
signals and its stdin, stdout and stderr file descriptors, then runs the same code
as an in-process run (:func:`kquant.cli.group.run`).

- :mod:`kquant.server.place`: where the socket lives (a directory only the user can
  enter, checked) and its files;
- :mod:`kquant.server.identity`: what a client and a server must share (kquant's
  version, the interpreter, its paths and flags, import-time environment) and when a
  server's code is stale;
- :mod:`kquant.server.wire`: the messages, and passing file descriptors;
- :mod:`kquant.server.client`: the ``kquant`` console script: through a server when
  one serves this environment (``KQUANT_SERVER``), else in process;
- :mod:`kquant.server.daemon`: the server's loop and its children;
- :mod:`kquant.server.control`: start, stop and status, for ``kquant server``.

The package reaches the command line only at run time (the child and the in-process
fallback import :mod:`kquant.cli.group`), so it sits below ``kquant.cli`` in the
layers and ``kquant server`` (:mod:`kquant.cli.server`) imports it downward.
"""
