"""The engine wing: how a run is trained and read back. Configs built for a method
(:mod:`.configs`), a training loop per task (:mod:`.loops`), the epochs' books (:mod:`.epochs`:
checkpoints, resume, carbon, FLOPs) and the run's record (:mod:`.record`),
where batches come from (:mod:`.inputs`), evaluation, training slots and executors, quantized
models as derived runs, tuned KD's grid on a shared teacher (:mod:`.shared_grid`, its loop
:mod:`.loops.lockstep`), and :func:`~.train.get_or_run`, which trains a run once and then reads it
(and logs it in the store's codecarbon emissions.csv: :mod:`.emissions`; to MLflow when asked:
:mod:`.mlflow_sink`).

It may import the ground and ``methods``, never ``paper`` or ``batch``.
"""
