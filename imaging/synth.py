"""Write realistic synthetic DICOM studies for fake patients (``aimis synth``).

Every name, ID, date and institution is generated; no real patient data is used anywhere.
Studies cover what the platform must handle: a CT series of 512² 16-bit slices with HU
rescale and window presets, MR series, large DX/CR/MG single frames (CR as MONOCHROME1), and
an ultrasound RGB multi-frame clip in JPEG baseline, written in several transfer syntaxes
through pydicom's own encoders (RLE, JPEG-LS via CharLS, JPEG 2000 via OpenJPEG) and Pillow
for JPEG baseline. A syntax without an encoder here falls back to explicit VR little endian.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import (
    UID,
    ComputedRadiographyImageStorage,
    CTImageStorage,
    DigitalMammographyXRayImageStorageForPresentation,
    DigitalXRayImageStorageForPresentation,
    ExplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGLSLossless,
    MRImageStorage,
    RLELossless,
    UltrasoundMultiFrameImageStorage,
    generate_uid,
)

from imaging import phantoms
from imaging.codecs import is_encodable

log = logging.getLogger(__name__)

MANUFACTURER = "AIMIS synthetic"
INSTITUTIONS = (
    "演示联盟中心医院 Demo Alliance Central Hospital",
    "演示联盟第二人民医院 Demo Alliance Second People's Hospital",
    "演示县人民医院 Demo County People's Hospital",
)
_SURNAMES = (
    ("Wang", "王"), ("Li", "李"), ("Zhang", "张"), ("Liu", "刘"), ("Chen", "陈"),
    ("Yang", "杨"), ("Zhao", "赵"), ("Huang", "黄"), ("Zhou", "周"), ("Wu", "吴"),
    ("Xu", "徐"), ("Sun", "孙"), ("Hu", "胡"), ("Zhu", "朱"), ("Gao", "高"),
)  # fmt: skip
_GIVEN = {
    "M": (("Wei", "伟"), ("Qiang", "强"), ("Lei", "磊"), ("Jun", "军"), ("Yong", "勇"),
          ("Jie", "杰"), ("Tao", "涛"), ("Ming", "明"), ("Chao", "超"), ("Hao", "浩")),
    "F": (("Fang", "芳"), ("Na", "娜"), ("Min", "敏"), ("Jing", "静"), ("Li", "丽"),
          ("Yan", "艳"), ("Xiuying", "秀英"), ("Guiying", "桂英"), ("Juan", "娟"), ("Xia", "霞")),
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class FakePatient:
    name: str  # DICOM PN: "Wang^Wei=王^伟" (alphabetic = ideographic)
    patient_id: str
    birth_date: str
    sex: str


@dataclass(frozen=True, slots=True)
class Sizes:
    """Image sizes; the defaults are realistic, ``small()`` keeps tests fast."""

    ct: int = 512
    ct_slices: int = 40
    mr: int = 256
    mr_slices: int = 24
    dx: tuple[int, int] = (2500, 2048)
    cr: tuple[int, int] = (2140, 1760)
    mg: tuple[int, int] = (3328, 2560)
    us: tuple[int, int] = (480, 640)
    us_frames: int = 40

    @classmethod
    def small(cls) -> Sizes:
        return cls(64, 4, 48, 3, (160, 128), (120, 100), (200, 160), (96, 128), 4)


@dataclass
class _Context:
    rng: random.Random
    np_rng: np.random.Generator
    seed: int | None
    counter: int = 0
    written: list[Path] = field(default_factory=list)

    def uid(self) -> UID:
        if self.seed is None:
            return generate_uid()
        self.counter += 1
        return generate_uid(entropy_srcs=[f"aimis-synth-{self.seed}-{self.counter}"])


@dataclass(frozen=True, slots=True)
class _Study:
    uid: str
    accession: str
    date: dt.date
    time: str
    institution: str
    description: str
    referring: str


def fake_patient(rng: random.Random) -> FakePatient:
    sex = rng.choice("MF")
    surname, given = rng.choice(_SURNAMES), rng.choice(_GIVEN[sex])
    born = dt.date(1940, 1, 1) + dt.timedelta(days=rng.randrange(0, 75 * 365))
    return FakePatient(
        name=f"{surname[0]}^{given[0]}={surname[1]}^{given[1]}",
        patient_id=f"SYN{rng.randrange(10**7, 10**8)}",
        birth_date=born.strftime("%Y%m%d"),
        sex=sex,
    )


def synth(
    out_dir: Path,
    *,
    patients: int = 3,
    seed: int | None = None,
    sizes: Sizes | None = None,
    transfer_syntaxes: dict[str, str] | None = None,
) -> list[Path]:
    """Write ``patients`` fake patients' studies under ``out_dir``; return the files written.

    Each patient gets a CT study and two more from MR, DX, US, CR, MG in turn, so three
    patients cover every modality. Transfer syntaxes rotate per patient unless
    ``transfer_syntaxes`` fixes one per modality (e.g. ``{"CT": JPEGLSLossless}``).
    """
    sizes = sizes or Sizes()
    ctx = _Context(random.Random(seed), np.random.default_rng(seed), seed)
    kinds = ("MR", "DX", "US", "CR", "MG")
    for p in range(patients):
        patient = fake_patient(ctx.rng)
        plan = ["CT", kinds[(2 * p) % len(kinds)], kinds[(2 * p + 1) % len(kinds)]]
        for kind in plan:
            ts = (transfer_syntaxes or {}).get(kind) or _default_syntax(kind, p)
            WRITERS[kind](out_dir, patient, ctx, sizes, ts)
    return ctx.written


def main_synth(out_dir: Path, patients: int = 3) -> list[Path]:
    """Entry point for ``aimis synth``: realistic sizes, fresh UIDs each run."""
    files = synth(Path(out_dir), patients=patients)
    log.info("wrote %d synthetic DICOM files under %s", len(files), out_dir)
    return files


_ROTATION = {
    "CT": (ExplicitVRLittleEndian, JPEGLSLossless, JPEG2000Lossless, RLELossless),
    "MR": (JPEGLSLossless, ExplicitVRLittleEndian, RLELossless, JPEG2000Lossless),
    "DX": (JPEG2000Lossless, ExplicitVRLittleEndian),
    "CR": (JPEGLSLossless, RLELossless),
    "MG": (JPEG2000Lossless, JPEGLSLossless),
    "US": (JPEGBaseline8Bit,),
}


def _default_syntax(kind: str, patient_index: int) -> str:
    options = _ROTATION[kind]
    return options[patient_index % len(options)]


# --- studies -----------------------------------------------------------------------------


def _new_study(ctx: _Context, description: str) -> _Study:
    day = dt.date.today() - dt.timedelta(days=ctx.rng.randrange(0, 730))
    surname, given = ctx.rng.choice(_SURNAMES), ctx.rng.choice(_GIVEN[ctx.rng.choice("MF")])
    return _Study(
        uid=ctx.uid(),
        accession=f"A{day:%Y%m%d}{ctx.rng.randrange(10**4, 10**5)}",
        date=day,
        time=(dt.datetime(2000, 1, 1, 7) + dt.timedelta(seconds=ctx.rng.randrange(13 * 3600)))
        .time()
        .strftime("%H%M%S"),
        institution=ctx.rng.choice(INSTITUTIONS),
        description=description,
        referring=f"{surname[0]}^{given[0]}={surname[1]}^{given[1]}",
    )


def _base(
    ctx: _Context,
    patient: FakePatient,
    study: _Study,
    *,
    sop_class: str,
    modality: str,
    series_uid: str,
    series_number: int,
    series_description: str,
    instance_number: int,
) -> Dataset:
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = ctx.uid()
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = ds.AcquisitionDate = f"{study.date:%Y%m%d}"
    ds.StudyTime = ds.SeriesTime = ds.ContentTime = study.time
    ds.AccessionNumber = study.accession
    ds.Modality = modality
    ds.Manufacturer = MANUFACTURER
    ds.InstitutionName = study.institution
    ds.ReferringPhysicianName = study.referring
    ds.StudyDescription = study.description
    ds.SeriesDescription = series_description
    ds.PatientName = patient.name
    ds.PatientID = patient.patient_id
    ds.IssuerOfPatientID = "AIMIS-SYNTH"
    ds.PatientBirthDate = patient.birth_date
    ds.PatientSex = patient.sex
    age = (study.date - dt.datetime.strptime(patient.birth_date, "%Y%m%d").date()).days // 365
    ds.PatientAge = f"{max(age, 0):03d}Y"
    ds.StudyInstanceUID = study.uid
    ds.SeriesInstanceUID = series_uid
    ds.StudyID = study.accession[-6:]
    ds.SeriesNumber = series_number
    ds.InstanceNumber = instance_number
    return ds


def _gray_module(ds: Dataset, rows: int, cols: int, bits_stored: int, photometric: str) -> None:
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.Rows, ds.Columns = rows, cols
    ds.BitsAllocated = 16
    ds.BitsStored = bits_stored
    ds.HighBit = bits_stored - 1
    ds.PixelRepresentation = 0


def _write_series(
    out_dir: Path,
    ctx: _Context,
    transfer_syntax: str,
    datasets: Iterator[tuple[Dataset, np.ndarray]],
) -> None:
    for ds, arr in datasets:
        ctx.written.append(_save(out_dir, ds, arr, transfer_syntax))


def _save(out_dir: Path, ds: Dataset, arr: np.ndarray, transfer_syntax: str) -> Path:
    ts = UID(transfer_syntax)
    if ts.is_compressed and ts != JPEGBaseline8Bit and not is_encodable(ts):
        log.warning("no encoder for %s here; writing explicit VR little endian", ts.name)
        ts = ExplicitVRLittleEndian
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    if ts == JPEGBaseline8Bit:
        if ds.BitsAllocated != 8:
            raise ValueError("JPEG baseline holds 8-bit images only")
        _encapsulate_jpeg(ds, arr)
    else:
        ds.PixelData = np.ascontiguousarray(arr).tobytes()
        ds["PixelData"].VR = "OW" if ds.BitsAllocated > 8 else "OB"
        if ts != ExplicitVRLittleEndian:
            plugin = "pylibjpeg" if ts == RLELossless else ""
            ds.compress(ts, arr, encoding_plugin=plugin, generate_instance_uid=False)
    folder = (
        out_dir
        / str(ds.PatientID)
        / f"{ds.StudyDate}_{ds.AccessionNumber}"
        / f"S{int(ds.SeriesNumber):03d}_{ds.Modality}"
    )
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"I{int(ds.InstanceNumber):04d}.dcm"
    ds.save_as(path, enforce_file_format=True)
    return path


def _encapsulate_jpeg(ds: Dataset, frames: np.ndarray, quality: int = 90) -> None:
    """JPEG baseline through Pillow: YCbCr 4:2:2 for colour (PS3.5 8.2.1: YBR_FULL_422)."""
    encoded = []
    for frame in frames if ds.get("NumberOfFrames", 1) > 1 else [frames]:
        out = io.BytesIO()
        Image.fromarray(frame).save(out, "JPEG", quality=quality, subsampling=1)
        encoded.append(out.getvalue())
    ds.PixelData = encapsulate(encoded)
    ds["PixelData"].VR = "OB"
    ds["PixelData"].is_undefined_length = True
    if ds.SamplesPerPixel == 3:
        ds.PhotometricInterpretation = "YBR_FULL_422"
    ds.LossyImageCompression = "01"
    raw = frames.nbytes
    ds.LossyImageCompressionRatio = f"{raw / max(1, sum(len(e) for e in encoded)):.2f}"[:16]
    ds.LossyImageCompressionMethod = "ISO_10918_1"
    ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit


def _axial_geometry(ds: Dataset, size: int, fov_mm: float, z_mm: float) -> None:
    spacing = fov_mm / size
    ds.PixelSpacing = [f"{spacing:.6f}", f"{spacing:.6f}"]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.ImagePositionPatient = [f"{-fov_mm / 2:.3f}", f"{-fov_mm / 2:.3f}", f"{z_mm:.3f}"]
    ds.SliceLocation = f"{z_mm:.3f}"
    ds.PatientPosition = "HFS"


def write_ct(
    out_dir: Path, patient: FakePatient, ctx: _Context, sizes: Sizes, transfer_syntax: str
) -> None:
    study = _new_study(ctx, "CT CHEST 胸部平扫")
    series_uid, frame_of_reference = ctx.uid(), ctx.uid()
    thickness = 5.0

    def slices() -> Iterator[tuple[Dataset, np.ndarray]]:
        for i in range(sizes.ct_slices):
            z = i / max(1, sizes.ct_slices - 1)
            hu = phantoms.ct_slice(sizes.ct, z, ctx.np_rng)
            stored = np.clip(np.rint(hu) + 1024, 0, 4095).astype(np.uint16)
            ds = _base(
                ctx, patient, study, sop_class=CTImageStorage, modality="CT",
                series_uid=series_uid, series_number=2, series_description="Chest 5mm",
                instance_number=i + 1,
            )  # fmt: skip
            ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
            ds.BodyPartExamined = "CHEST"
            ds.KVP, ds.XRayTubeCurrent, ds.ConvolutionKernel = "120", 250, "STANDARD"
            ds.SliceThickness = f"{thickness}"
            ds.FrameOfReferenceUID = frame_of_reference
            _axial_geometry(ds, sizes.ct, 360.0, -i * thickness)
            _gray_module(ds, sizes.ct, sizes.ct, 12, "MONOCHROME2")
            ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = "-1024", "1", "HU"
            ds.WindowCenter, ds.WindowWidth = ["40", "-600"], ["400", "1500"]
            ds.WindowCenterWidthExplanation = ["MEDIASTINUM", "LUNG"]
            yield ds, stored

    _write_series(out_dir, ctx, transfer_syntax, slices())


def write_mr(
    out_dir: Path, patient: FakePatient, ctx: _Context, sizes: Sizes, transfer_syntax: str
) -> None:
    study = _new_study(ctx, "MR HEAD 头颅平扫")
    frame_of_reference = ctx.uid()
    for number, (weighting, t2) in enumerate((("T1 SE", False), ("T2 FSE", True)), start=1):
        series_uid = ctx.uid()

        def slices(t2: bool = t2, weighting: str = weighting, series_uid: str = series_uid,
                   number: int = number) -> Iterator[tuple[Dataset, np.ndarray]]:  # fmt: skip
            for i in range(sizes.mr_slices):
                z = i / max(1, sizes.mr_slices - 1)
                signal = phantoms.mr_slice(sizes.mr, z, ctx.np_rng, t2=t2)
                stored = np.clip(np.rint(signal), 0, 4095).astype(np.uint16)
                ds = _base(
                    ctx, patient, study, sop_class=MRImageStorage, modality="MR",
                    series_uid=series_uid, series_number=number,
                    series_description=f"Axial {weighting}", instance_number=i + 1,
                )  # fmt: skip
                ds.ImageType = ["ORIGINAL", "PRIMARY", "M", "ND"]
                ds.BodyPartExamined = "HEAD"
                ds.ScanningSequence, ds.SequenceVariant = "SE", "NONE"
                ds.RepetitionTime = "4000" if t2 else "500"
                ds.EchoTime = "100" if t2 else "12"
                ds.MagneticFieldStrength = "1.5"
                ds.SliceThickness = "5"
                ds.FrameOfReferenceUID = frame_of_reference
                _axial_geometry(ds, sizes.mr, 230.0, 60.0 - i * 5.0)
                _gray_module(ds, sizes.mr, sizes.mr, 12, "MONOCHROME2")
                ds.WindowCenter, ds.WindowWidth = ("800", "1600") if t2 else ("600", "1200")
                yield ds, stored

        _write_series(out_dir, ctx, transfer_syntax, slices())


def _write_projection(
    out_dir: Path,
    patient: FakePatient,
    ctx: _Context,
    transfer_syntax: str,
    *,
    modality: str,
    sop_class: str,
    description: str,
    images: list[tuple[str, np.ndarray, dict[str, object]]],
    photometric: str,
    pixel_spacing: float,
) -> None:
    study = _new_study(ctx, description)
    series_uid = ctx.uid()

    def frames() -> Iterator[tuple[Dataset, np.ndarray]]:
        for i, (label, counts, extra) in enumerate(images):
            stored = counts if photometric == "MONOCHROME2" else 4095.0 - counts
            stored = np.clip(np.rint(stored), 0, 4095).astype(np.uint16)
            ds = _base(
                ctx, patient, study, sop_class=sop_class, modality=modality,
                series_uid=series_uid, series_number=1, series_description=label,
                instance_number=i + 1,
            )  # fmt: skip
            ds.ImageType = ["ORIGINAL", "PRIMARY"]
            ds.PresentationIntentType = "FOR PRESENTATION"
            ds.ImagerPixelSpacing = ds.PixelSpacing = [f"{pixel_spacing}", f"{pixel_spacing}"]
            rows, cols = stored.shape
            _gray_module(ds, rows, cols, 12, photometric)
            ds.WindowCenter, ds.WindowWidth = "2048", "4096"
            ds.PresentationLUTShape = "IDENTITY"
            for keyword, value in extra.items():
                setattr(ds, keyword, value)
            yield ds, stored

    _write_series(out_dir, ctx, transfer_syntax, frames())


@dataclass(frozen=True)
class _Plain:
    """A single-image projection study: what differs between the plain radiographs."""

    modality: str
    sop_class: str
    description: str
    title: str
    phantom: Callable[..., np.ndarray]
    size: Callable[[Sizes], tuple[int, int]]
    extra: dict[str, object]
    photometric: str
    pixel_spacing: float

    def __call__(
        self, out_dir: Path, patient: FakePatient, ctx: _Context, sizes: Sizes, syntax: str
    ) -> None:
        image = self.phantom(*self.size(sizes), ctx.np_rng)
        _write_projection(
            out_dir, patient, ctx, syntax, modality=self.modality, sop_class=self.sop_class,
            description=self.description, images=[(self.title, image, dict(self.extra))],
            photometric=self.photometric, pixel_spacing=self.pixel_spacing,
        )  # fmt: skip


write_dx = _Plain(
    "DX", DigitalXRayImageStorageForPresentation, "DX CHEST PA 胸部正位", "Chest PA",
    phantoms.chest_projection, lambda s: s.dx,
    {"ViewPosition": "PA", "BodyPartExamined": "CHEST", "KVP": "120"}, "MONOCHROME2", 0.143,
)  # fmt: skip
write_cr = _Plain(
    "CR", ComputedRadiographyImageStorage, "CR HAND 手正位", "Hand PA",
    phantoms.hand_projection, lambda s: s.cr,
    {"ViewPosition": "PA", "BodyPartExamined": "HAND"}, "MONOCHROME1", 0.1,
)  # fmt: skip


def write_mg(
    out_dir: Path, patient: FakePatient, ctx: _Context, sizes: Sizes, transfer_syntax: str
) -> None:
    images: list[tuple[str, np.ndarray, dict[str, object]]] = []
    for side, right in (("R", True), ("L", False)):
        extra: dict[str, object] = {
            "ImageLaterality": side,
            "ViewPosition": "CC",
            "BodyPartExamined": "BREAST",
        }
        images.append((f"{side} CC", phantoms.mammogram(*sizes.mg, ctx.np_rng, right=right), extra))
    _write_projection(
        out_dir, patient, ctx, transfer_syntax, modality="MG",
        sop_class=DigitalMammographyXRayImageStorageForPresentation,
        description="MG BILATERAL CC 双侧乳腺", images=images, photometric="MONOCHROME2",
        pixel_spacing=0.07,
    )  # fmt: skip


def write_us(
    out_dir: Path, patient: FakePatient, ctx: _Context, sizes: Sizes, transfer_syntax: str
) -> None:
    study = _new_study(ctx, "US ECHO 心脏超声")
    rows, cols = sizes.us
    clip = np.stack(
        [
            phantoms.ultrasound_frame(rows, cols, i / max(1, sizes.us_frames), ctx.np_rng)
            for i in range(sizes.us_frames)
        ]
    )
    ds = _base(
        ctx, patient, study, sop_class=UltrasoundMultiFrameImageStorage, modality="US",
        series_uid=ctx.uid(), series_number=1, series_description="Cine apical 4ch",
        instance_number=1,
    )  # fmt: skip
    ds.ImageType = ["ORIGINAL", "PRIMARY", "CARDIAC"]
    ds.SamplesPerPixel = 3
    ds.PhotometricInterpretation = "RGB"
    ds.PlanarConfiguration = 0
    ds.Rows, ds.Columns = rows, cols
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.NumberOfFrames = sizes.us_frames
    ds.FrameTime = "33.3"
    ds.CineRate = 30
    ds.FrameIncrementPointer = 0x00181063  # Frame Time
    ds.StartTrim, ds.StopTrim = 1, sizes.us_frames
    ctx.written.append(_save(out_dir, ds, clip, transfer_syntax))


WRITERS: dict[str, Callable[[Path, FakePatient, _Context, Sizes, str], None]] = {
    "CT": write_ct,
    "MR": write_mr,
    "DX": write_dx,
    "CR": write_cr,
    "MG": write_mg,
    "US": write_us,
}
