"""The feature modules as the home page's cards and the main menu show them: each module's
title, its page (``None``: not built yet) and who it is for (the permissions of which a doctor
needs one; empty: every doctor of the hospital). A card shows only when the hospital has the
module switched on and the user may use it; a module not built yet says so."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from kernel.domain import Module, Permission
from kernel.i18n import N_


@dataclass(frozen=True)
class ModuleCard:
    module: Module
    title: str
    summary: str
    href: str | None  # None: the module is not built yet
    needs: frozenset[str] = frozenset()  # any one of these permissions; empty: every doctor


def _any(*permissions: Permission) -> frozenset[str]:
    return frozenset(p.value for p in permissions)


MODULE_CARDS: tuple[ModuleCard, ...] = (
    ModuleCard(
        Module.remote_diagnosis,
        N_("Remote diagnosis"),
        N_("Examinations, reports and diagnosis requests"),
        "/diagnosis",
    ),
    ModuleCard(
        Module.consultation,
        N_("Consultations"),
        N_("Apply for and join consultations"),
        "/consultations",
    ),
    ModuleCard(
        Module.ward_round,
        N_("Ward round"),
        N_("Remote ward rounds"),
        "/ward-rounds",
        _any(Permission.ward_round_apply),
    ),
    ModuleCard(Module.teaching, N_("Teaching"), N_("Remote teaching sessions"), "/teaching"),
    ModuleCard(
        Module.statistics,
        N_("Statistics"),
        N_("Work statistics and their downloads"),
        "/statistics",
        _any(Permission.statistics_view, Permission.statistics_download),
    ),
    ModuleCard(
        Module.quality_control,
        N_("Quality control"),
        N_("Image and report quality evaluation"),
        "/quality",
        _any(Permission.qc_evaluate, Permission.qc_manage),
    ),
    ModuleCard(Module.cloud_film, N_("Cloud film"), N_("The patients' image archive"), None),
)


def cards_for(
    modules: list[str], permissions: list[str], named_in: Sequence[str] = ()
) -> list[ModuleCard]:
    """The cards of a doctor whose hospital switched ``modules`` on, in the catalogue's order;
    ``named_in``: modules he takes part in without their permission (a QC task names him)."""
    on, have, named = set(modules), set(permissions), set(named_in)
    return [
        c
        for c in MODULE_CARDS
        if c.module.value in on and (not c.needs or c.needs & have or c.module.value in named)
    ]
