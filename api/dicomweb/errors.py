"""Refusals particular to DICOMweb; the shared ones are in ``kernel.errors``."""

from __future__ import annotations

from kernel.errors import AppError


class NotAcceptable(AppError):
    """No representation the client accepts (PS3.18 8.7.4)."""

    status_code = 406


class Undecodable(AppError):
    """The stored pixel data cannot be decoded by the installed codecs."""

    status_code = 422
