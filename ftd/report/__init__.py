"""The HTML report of a dataset and its job: view models, SVG charts, the page, the sparkline.

Nothing is imported here on purpose: the thin CLI client imports
``ftd.report.sparkline`` alone and must not pull in the store or the charts.
"""
