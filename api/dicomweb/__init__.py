"""DICOMweb at ``/dicomweb`` (PS3.18): QIDO-RS, WADO-RS, capabilities, CORS; STOW-RS is
mounted from ``stow.py``. See README.md for what is supported and the invariants."""
