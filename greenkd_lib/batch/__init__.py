"""The batch wing: headless regeneration (``greenkd reproduce``: papermill over every notebook,
the schedule that runs them side by side, the HTML report with its template and its layout
(``layout.py``: tables and figures fitted to its column), the exported notebook pages that open
offline (``notebook_html.py``; their math as MathML: ``mathml.py``) and the ``greenkd`` command line.

The top of the house: it may import every other wing; nothing imports it.
"""
