"""The batch wing: headless regeneration (``greenkd reproduce``: papermill over every notebook,
the schedule that runs them side by side, the HTML report and its template) and the ``greenkd``
command line.

The top of the house: it may import every other wing; nothing imports it.
"""
