"""Ingest: every way a DICOM file enters AIMIS (STOW-RS, C-STORE, upload, import), each a
migration run (SPEC 9.1). See README.md in this folder."""
