"""English labels of identifiers; translated where shown (``kernel.i18n``)."""
