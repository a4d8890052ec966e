"""The paper wing: the experiments of the paper, one module per figure or table, named after it
(``fig1`` ... ``fig4``, ``table1`` ... ``table8``, ``ablation`` and ``shared_teacher`` beyond the paper), each with its
tables, figures and captions; :class:`~.lab.Lab`, which binds a profile, a data set and the run
store, and ``rows``, the rows its experiments return (``tune``, ``summarize``); the comparison with
the published numbers and the notebooks' helpers (display, outputs, parameters; a notebook's
MLflow run: ``mlflow_notebook``); for teaching, the temperature explorer of notebook 14 (``explorer``)
and the answers to the notebooks' "Try it" questions (the package ``exercises``, a module per
group of notebooks).

It may import the ground, ``methods`` and ``engine``, never ``batch``.
"""
