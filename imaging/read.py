"""Parse a DICOM file safely and decide whether it may be ingested.

Ingest refuses a broken file before anything is stored, with a sentence a person
understands (``IngestRefused.reason``) and a stable code for programs. Parsing reads the
header only: large values are skipped by seeking, encapsulated fragments are walked by their
item headers, and at most the first and last frame's own headers are read (ingest) or the
two frames decoded (``decode_check``, the run's thumbnail step, after the acknowledgement),
so a 2 GB ultrasound clip costs a few reads and at most two frame decodes.

``open_instance`` gives frames.py and render.py the same parse plus a stream positioned
wherever they need it (for a deflated file that stream is the inflated dataset).

This module is the public face; the work is in ``imaging.instance`` (the types, the policy,
the refusal), ``imaging.parse`` (opening and walking the header), ``imaging.checks`` (the
ingest checks, decoding a frame) and ``imaging.codestream`` (what a compressed frame claims).
Callers import from here.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from imaging.checks import (
    check_decodes,
    check_frame_headers,
    check_identity,
    check_is_instance,
    check_not_cut_before_pixels,
    check_palette,
    check_pixel_length,
    check_pixel_module,
    check_values,
    decode_array,
    frame_bytes,
)
from imaging.instance import (
    LENIENT,
    STRICT,
    IngestPolicy,
    IngestRefused,
    OpenInstance,
    ParsedInstance,
    PixelDataLocation,
    PixelModule,
    RefusalCode,
    Source,
)
from imaging.parse import dataset_digest, open_source, parse_source

__all__ = [
    "LENIENT",
    "STRICT",
    "IngestPolicy",
    "IngestRefused",
    "OpenInstance",
    "ParsedInstance",
    "PixelDataLocation",
    "PixelModule",
    "RefusalCode",
    "Source",
    "dataset_digest",
    "decode_array",
    "decode_check",
    "frame_bytes",
    "open_instance",
    "parse_instance",
    "validate_for_ingest",
]


def parse_instance(source: Source) -> ParsedInstance:
    """Parse the header and locate the pixel data; raises ``IngestRefused`` when unreadable."""
    with open_instance(source) as inst:
        return inst.parsed


@contextmanager
def open_instance(source: Source) -> Iterator[OpenInstance]:
    with open_source(source) as (fp, size):
        parsed, stream = parse_source(fp, size, verify=False)
        try:
            yield OpenInstance(parsed, stream)
        finally:
            if stream is not fp:  # the inflated dataset of a deflated file
                stream.close()


def decode_check(source: Source) -> None:
    """Decode the first and last frame of a stored instance (the thumbnail step's check of
    what ingest acknowledged without decoding); raises ``IngestRefused`` (``UNDECODABLE``
    or a structural code) saying why it cannot be drawn. An instance without pixel data
    passes."""
    with open_instance(source) as inst:
        if inst.parsed.pixel_data is None:
            return
        pixels = check_pixel_module(inst.parsed)
        check_decodes(inst, pixels)


def validate_for_ingest(source: Source, policy: IngestPolicy = STRICT) -> ParsedInstance:
    """Return the parsed instance, or raise ``IngestRefused`` saying what is wrong with it."""
    with open_source(source) as (fp, size):
        if policy.max_bytes is not None and size > policy.max_bytes:
            raise IngestRefused(
                RefusalCode.TOO_LARGE,
                f"The file is {size:,} bytes, more than the {policy.max_bytes:,} bytes allowed.",
            )
        parsed, stream = parse_source(fp, size, verify=True)
        try:
            ds = parsed.dataset
            check_is_instance(ds)
            check_values(ds)
            check_identity(parsed, policy)
            if parsed.pixel_data is None:
                check_not_cut_before_pixels(ds)
            else:
                pixels = check_pixel_module(parsed)
                check_pixel_length(parsed, pixels)
                if pixels.photometric_interpretation == "PALETTE COLOR":
                    check_palette(ds)
                inst = OpenInstance(parsed, stream)
                check_frame_headers(inst, pixels)
                if policy.decode_check:
                    check_decodes(inst, pixels)
        finally:
            if stream is not fp:
                stream.close()
        return parsed
