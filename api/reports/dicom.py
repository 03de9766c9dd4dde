"""The reviewed report stored into its study as DICOM (issue 5 item 7): an Encapsulated PDF
instance (SOP Class 1.2.840.10008.5.1.4.1.1.104.1), Modality DOC, in a series "Report" of
the examination's own study, with the study's patient and study attributes (from the
Patient and Study rows the index made from the images), so PACS and viewers file it with
the images.

``flows/report_dicom.py`` stores it like any other file. UIDs are derived from the report
(one series per report, one SOP Instance UID per reviewed revision) and the PDF's dates are
the review time, so a repeated delivery of the same approval stores the same bytes under
the same UID: a no-op.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, UID, ExplicitVRLittleEndian, generate_uid

ENCAPSULATED_PDF = "1.2.840.10008.5.1.4.1.1.104.1"
SERIES_NUMBER = 9001


def sop_uid(report_id: int, revision: int) -> str:
    return generate_uid(entropy_srcs=["aimis", "exam-report", str(report_id), str(revision)])


def series_uid(report_id: int) -> str:
    return generate_uid(entropy_srcs=["aimis", "exam-report-series", str(report_id)])


@dataclass(frozen=True)
class Source:
    """What the instance copies from the study: patient and study attributes."""

    patient: dict[str, Any]
    study: dict[str, Any]


def encapsulate(
    pdf: bytes, source: Source, report: dict[str, Any], sop: str, at: datetime, title: str
) -> bytes:
    """The Part 10 file of the Encapsulated PDF instance."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(ENCAPSULATED_PDF)
    meta.MediaStorageSOPInstanceUID = UID(sop)
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.SOPClassUID = ENCAPSULATED_PDF
    ds.SOPInstanceUID = sop
    ds.InstanceCreationDate = at.strftime("%Y%m%d")
    ds.InstanceCreationTime = at.strftime("%H%M%S")
    patient, study = source.patient, source.study
    ds.PatientName = patient.get("name") or study["patient_name"]
    ds.PatientID = patient.get("patient_id") or study["patient_id"]
    if patient.get("issuer"):
        ds.IssuerOfPatientID = patient["issuer"]
    ds.PatientBirthDate = patient.get("birth_date") or study["patient_birth_date"]
    ds.PatientSex = patient.get("sex") or study["patient_sex"]
    ds.StudyInstanceUID = study["study_uid"]
    ds.StudyDate = study["study_date"]
    ds.StudyTime = study["study_time"]
    ds.AccessionNumber = study["accession_number"]
    ds.ReferringPhysicianName = study["referring_physician"]
    ds.StudyID = study["study_id"]
    if study["description"]:
        ds.StudyDescription = study["description"]
    ds.Modality = "DOC"
    ds.SeriesInstanceUID = series_uid(int(report["id"]))
    ds.SeriesNumber = SERIES_NUMBER
    ds.SeriesDescription = "Report"
    ds.ConversionType = "WSD"
    ds.Manufacturer = "AIMIS"
    ds.InstanceNumber = int(report["revision"]) or 1
    ds.ContentDate = ds.InstanceCreationDate
    ds.ContentTime = ds.InstanceCreationTime
    ds.AcquisitionDateTime = at.strftime("%Y%m%d%H%M%S")
    ds.BurnedInAnnotation = "YES"
    ds.DocumentTitle = title[:64]
    concept = Dataset()
    concept.CodeValue = "18748-4"
    concept.CodingSchemeDesignator = "LN"
    concept.CodeMeaning = "Diagnostic imaging study"
    ds.ConceptNameCodeSequence = [concept]
    ds.VerificationFlag = "VERIFIED"
    ds.MIMETypeOfEncapsulatedDocument = "application/pdf"
    ds.EncapsulatedDocument = pdf + (b"\0" if len(pdf) % 2 else b"")
    ds.EncapsulatedDocumentLength = len(pdf)
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()
