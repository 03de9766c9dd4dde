"""The OHIF viewer served under ``/viewer`` and the study list behind the study pages.

``ohif.py`` serves the prebuilt OHIF app from ``ui/node_modules/@ohif/app/dist`` with the
rewrites a sub-path needs; ``controllers.py`` mounts it; ``studies.py`` lists and opens the
studies an actor may see (``store.scoping``), for ``ui/study_pages.py``.
"""
