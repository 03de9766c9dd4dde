"""The DICOM network side: a C-ECHO/C-STORE receiver for hospitals' PACS and modalities."""
