"""The ``recording.process`` outbox row: one flow run ``recording-<id>`` per finished upload
(``api/recordings/processing.py`` holds the steps): probe, make it playable (faststart MP4,
transcoded only when a browser cannot play it), poster, ready. Each step a task with retries;
a file that can never play, or a step that failed all its retries, leaves the recording
``failed`` with the reason (and the row failed for good: a new upload is the way on)."""

from __future__ import annotations

from api.recordings import processing
from api.recordings.processing import NotPlayable, Probe
from flows.outbox import PermanentFailure, payload_of
from flows.runs import outbox_flow, retrying


@retrying
async def recording_of(outbox_id: int) -> int:
    return int((await payload_of(outbox_id))["recording_id"])


@retrying
async def probe_recording(recording_id: int) -> Probe:
    try:
        return await processing.probe(recording_id)
    except (NotPlayable, LookupError) as exc:
        raise PermanentFailure(str(exc)) from None


@retrying
async def make_playable(recording_id: int, found: Probe) -> None:
    await processing.make_playable(recording_id, found)


@retrying
async def make_poster(recording_id: int, found: Probe) -> None:
    await processing.make_poster(recording_id, found)


@retrying
async def mark_ready(recording_id: int) -> None:
    await processing.finish(recording_id)


@outbox_flow("process-recording")
async def process_recording(outbox_id: int) -> None:
    recording_id = await recording_of(outbox_id)
    try:
        found = await probe_recording(recording_id)
        await make_playable(recording_id, found)
        await make_poster(recording_id, found)
        await mark_ready(recording_id)
    except Exception as exc:
        await processing.fail(recording_id, str(exc) or type(exc).__name__)
        raise PermanentFailure(str(exc)) from exc
