"""Engine stage: running a build.

Owns: the build of every animation (plan → data layers → overlays → encoders → records),
parallelism (the build as a graph of picklable tasks on one executor: ``graph``, ``tasks``), the output folder's life cycle (staging, atomic swap, carry-over of stale
animations and their records, verified against the files they vouch for: hashed, or known
unchanged by their stat since they were), the short reason a
failed animation is published with (``failures``) and progress reporting with
``build-report.json``. Gets options
from the CLI and uses every stage below it; hands the site stage the records to publish.
"""
