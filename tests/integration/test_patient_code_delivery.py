"""A patient's login code through the real dispatcher and Prefect (as ``aimis up`` runs
them, no SMS provider configured: the demo): the outbox row becomes one flow run
``notify-patient-code``, the code appears in the dispatcher's console (the log channel) for
the person trying the demo, and the row's payload no longer holds it."""

from __future__ import annotations

import msgspec
import pytest

from store.tables import PatientCode
from tests.fixtures.patients import code_for, new_phone, send_code
from tests.fixtures.waiting import outbox_settled

pytestmark = pytest.mark.integration


async def test_the_code_reaches_the_log_channel_and_leaves_the_outbox(api, dispatcher) -> None:  # type: ignore[no-untyped-def]
    phone = new_phone()
    assert (await send_code(api, phone)).status_code == 202
    code = await code_for(phone)
    row = await PatientCode.select(PatientCode.id).where(PatientCode.phone == f"86{phone}").first()
    assert row is not None
    settled = await outbox_settled(f"patient-code-{row['id']}", log=dispatcher.output)
    assert (settled["status"], settled["attempts"]) == ("done", 1), settled["error"]
    assert "code" not in msgspec.json.decode(settled["payload"])
    lines = [
        line
        for line in dispatcher.output().splitlines()
        if f"message for patient phone {phone[:3]}****{phone[-4:]}" in line
    ]
    assert len(lines) == 1 and code in lines[0], dispatcher.output()[-3000:]
    assert phone not in dispatcher.output()
