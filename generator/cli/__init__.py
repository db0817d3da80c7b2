"""Command line stage.

Owns: the ``python -m generator`` commands (``build``, ``validate``, ``list``, ``clean``,
``serve``), their arguments, logging setup and the table mapping our exceptions to exit codes.
Gets a config path and options from the user; hands a build to ``generator.engine``, a published
folder to ``generator.site.serve``, and prints what comes back. Imports nothing heavy until a
command runs, so ``--help`` stays instant.
"""
