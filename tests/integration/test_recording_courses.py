"""A course's recording (issue 16 points 2-3): its lecturer uploads it, whoever is in the
course's range plays it, anybody else gets "not found" (audited) — the teaching module's
answer through the recordings' registry."""

from __future__ import annotations

from typing import Any

import pytest

from api.recordings import processing
from store.tables import AuditLog
from tests.fixtures.hospitals import department
from tests.integration import test_recordings
from tests.integration.test_recordings import TUS, meta, send
from tests.integration.test_teaching import doctor, lecturer, when

pytestmark = pytest.mark.integration

clip = test_recordings.clip  # the same generated clip (a fixture)


async def test_a_course_recording_is_seen_in_its_range_only(
    new_api: Any, uniq: Any, clip: bytes
) -> None:
    host, _ = await lecturer(uniq, new_api)
    inside, _ = await doctor(uniq, new_api, "EAST", "Radiology")
    foreign, foreign_id = await doctor(uniq, new_api, "WEST", "Radiology")
    res = await host.post(
        "/api/teaching/courses",
        json={
            "topic": uniq("Recorded reading "),
            "starts_at": when(-0.1),
            "ends_at": when(1),
            "place": "Room 3",
            "introduction": "Reading chest CT",
            "meeting_url": "https://meet.example/chest",
            "department_ids": [await department("EAST", "Radiology")],
        },
    )
    assert res.status_code == 201, res.text
    course = res.json()["id"]
    assert (await host.post(f"/api/teaching/courses/{course}/steps/publish", json={})).is_success

    def create(who: Any) -> Any:
        return who.post(
            "/api/recordings/uploads",
            headers={
                **TUS,
                "Upload-Length": str(len(clip)),
                "Upload-Metadata": meta(owner_kind="course", owner_id=str(course)),
            },
        )

    assert (await create(inside)).status_code == 404  # in range, but not its lecturer
    res = await create(host)
    assert res.status_code == 201, res.text
    url = res.headers["location"]
    rid = int(url.rsplit("/", 1)[1])
    assert (await send(host, url, 0, clip)).status_code == 204
    assert await processing.process_inline(rid) == "ready"

    listed = (await inside.get(f"/api/recordings?owner_kind=course&owner_id={course}")).json()
    assert [r["id"] for r in listed] == [rid] and listed[0]["status"] == "ready"
    part = await inside.get(f"/api/recordings/{rid}/video", headers={"Range": "bytes=0-9"})
    assert part.status_code == 206 and len(part.content) == 10
    for path in (
        f"/api/recordings/{rid}",
        f"/api/recordings/{rid}/video",
        f"/api/recordings?owner_kind=course&owner_id={course}",
    ):
        assert (await foreign.get(path)).status_code == 404, path
    denied = await AuditLog.select().where(
        AuditLog.user_id == foreign_id, AuditLog.outcome == "denied"
    )
    assert len(denied) >= 3
