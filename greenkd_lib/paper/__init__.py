"""The paper wing: the experiments of the paper, one module per figure or table, named after it
(``fig1`` ... ``fig4``, ``table1`` ... ``table8``, ``ablation`` beyond the paper), each with its
tables, figures and captions; :class:`~.lab.Lab`, which binds a profile, a data set and the run
store, and ``rows``, the rows its experiments return (``tune``, ``summarize``); the comparison with
the published numbers and the notebooks' helpers (display, outputs, parameters).

It may import the ground, ``methods`` and ``engine``, never ``batch``.
"""
