"""Figures of the notebooks, one module per figure family; import from the submodule
(``from greenkd_lib.plots import fig4``)."""
