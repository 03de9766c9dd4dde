// The classroom's learning heartbeats (api/teaching/learning.py): while the course's <video>
// plays, every 10 s and on pause, seek, end and pagehide, POST {position, watched} to
// /api/teaching/courses/<id>/heartbeats: the player's position now and the seconds played
// since the last heartbeat. A seek first reports what was played up to it and starts a new
// stretch at the new position, so the skipped part is never counted. The answer (progress %)
// updates the learner's progress on the page.
(function () {
  "use strict";
  const EVERY_MS = 10000;
  function cookie(name) {
    const found = document.cookie.split("; ").find((c) => c.startsWith(name + "="));
    return found ? decodeURIComponent(found.slice(name.length + 1)) : "";
  }
  function setup(box) {
    const video = box.querySelector("video");
    if (!video) return;
    const url = box.dataset.heartbeats;
    const duration = Number(box.dataset.duration || 0);
    const shown = document.getElementById("learning-progress");
    let from = null; // where the stretch played since the last heartbeat began
    let last = null; // the last position seen while it played
    let sentAt = null; // when the last heartbeat went (watched never exceeds the wall time)

    function send(force) {
      if (from === null || last === null) return;
      const end = duration > 0 ? Math.min(last, duration) : last;
      let start = Math.min(from, end);
      if (sentAt !== null) start = Math.max(start, end - (Date.now() - sentAt) / 1000);
      const watched = end - start;
      from = last = end;
      if (watched <= 0 && !force) return;
      sentAt = Date.now();
      fetch(url, {
        method: "POST",
        credentials: "same-origin",
        keepalive: true,
        headers: { "Content-Type": "application/json", Accept: "application/json",
                   "x-csrftoken": cookie("csrftoken") },
        body: JSON.stringify({ position: end, watched: Math.max(0, watched) }),
      })
        .then((r) => (r.ok ? r.json() : null))
        .then((answer) => {
          if (answer && shown) {
            shown.textContent = String(answer.progress);
            box.dataset.progress = String(answer.progress);
          }
        })
        .catch(() => {});
    }
    function begin() {
      if (!video.paused && !video.seeking) from = last = video.currentTime;
    }
    video.addEventListener("playing", begin);
    video.addEventListener("seeked", begin);
    video.addEventListener("timeupdate", () => {
      if (from !== null && !video.paused && !video.seeking) last = video.currentTime;
    });
    // currentTime is already the new position when "seeking" fires: report up to `last`.
    video.addEventListener("seeking", () => { send(false); from = last = null; });
    video.addEventListener("pause", () => {
      if (from !== null && !video.seeking) last = video.currentTime;
      send(false);
      from = last = null;
    });
    video.addEventListener("ended", () => {
      if (from !== null) last = video.currentTime;
      send(false);
      from = last = null;
    });
    window.addEventListener("pagehide", () => {
      if (from !== null && !video.paused) last = video.currentTime;
      send(false);
    });
    setInterval(() => { if (!video.paused && from !== null) send(false); }, EVERY_MS);
  }
  document.querySelectorAll("[data-heartbeats]").forEach(setup);
})();
