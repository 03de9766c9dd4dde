"""The teaching API's bodies, bounded (``api.bounds``): what a course is created with, a
step's version and a learning heartbeat. The service checks their meaning (times, range,
forged heartbeats); these only bound their size and types."""

from __future__ import annotations

from typing import Annotated

import msgspec
from msgspec import Meta

from api.bounds import Id, Many, Number, Text

Short = Annotated[str, Meta(max_length=200)]
Url = Annotated[str, Meta(max_length=500)]
Moment = Annotated[str, Meta(max_length=40)]  # an ISO time or a datetime-local value


class CourseIn(msgspec.Struct):
    topic: Short = ""
    starts_at: Moment = ""
    ends_at: Moment = ""
    place: Short = ""
    introduction: Text = ""
    recording_mode: Annotated[str, Meta(max_length=8)] = "host"
    meeting_url: Url = ""
    department_ids: Many[Id] = []
    user_ids: Many[Id] = []


class StepIn(msgspec.Struct):
    version: Id | None = None


class HeartbeatIn(msgspec.Struct):
    position: Number = -1
    watched: Number = -1
