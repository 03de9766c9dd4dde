"""The names of the roles every hospital starts with (``kernel.domain.DEFAULT_ROLES``) as
message ids: the pages show a role's name through the catalogue, so a default role reads in
the reader's language and a name an administrator typed stays as typed."""

from __future__ import annotations

from kernel.i18n import N_

DEFAULT_ROLE_NAMES = (N_("Radiologist"), N_("Senior radiologist"), N_("Clinician"))
