// The recording upload widget (ui/templates/recordings/_upload.html): a resumable tus upload
// (tus-js-client, /vendor/tus/tus.min.js) of one video to /api/recordings/uploads, with the
// owner from the form's data attributes. An interrupted upload of the same file resumes from
// the server's offset (tus-js-client keeps the upload URL in localStorage by fingerprint).
(function () {
  "use strict";
  function cookie(name) {
    const found = document.cookie.split("; ").find((c) => c.startsWith(name + "="));
    return found ? decodeURIComponent(found.slice(name.length + 1)) : "";
  }
  function setup(box) {
    const input = box.querySelector("input[type=file]");
    const start = box.querySelector("[data-recording-start]");
    const pause = box.querySelector("[data-recording-pause]");
    const bar = box.querySelector("progress");
    const said = box.querySelector("[data-recording-status]");
    let upload = null;
    function say(text) { said.textContent = text; }
    function poll(url) {
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then((r) => r.json())
        .then((rec) => {
          box.dataset.recordingId = rec.id;
          box.dataset.recordingState = rec.status;
          if (rec.status === "ready") {
            say(box.dataset.sayReady);
            box.dispatchEvent(new CustomEvent("recording-ready", { detail: rec, bubbles: true }));
          } else if (rec.status === "failed") {
            say(box.dataset.sayFailed + " " + rec.failure_reason);
          } else {
            say(box.dataset.sayProcessing);
            setTimeout(() => poll(url), 1000);
          }
        });
    }
    start.addEventListener("click", () => {
      const file = input.files && input.files[0];
      if (!file) { say(box.dataset.sayChoose); return; }
      upload = new tus.Upload(file, {
        endpoint: "/api/recordings/uploads",
        chunkSize: Number(box.dataset.chunkBytes || 8 * 1024 * 1024),
        retryDelays: [0, 1000, 3000, 5000, 10000],
        removeFingerprintOnSuccess: true,
        metadata: { filename: file.name, owner_kind: box.dataset.ownerKind, owner_id: box.dataset.ownerId },
        onBeforeRequest: (req) => { req.setHeader("x-csrftoken", cookie("csrftoken")); },
        onError: (err) => {
          const res = err.originalResponse;
          let detail = "";
          try { detail = JSON.parse(res.getBody()).detail; } catch (e) { detail = String(err); }
          say(box.dataset.sayFailed + " " + detail);
        },
        onProgress: (sent, total) => {
          bar.max = total;
          bar.value = sent;
          say(Math.floor((sent / total) * 100) + " %");
        },
        onSuccess: () => { poll(upload.url.replace("/uploads/", "/")); },
      });
      upload.findPreviousUploads().then((previous) => {
        if (previous.length) upload.resumeFromPreviousUpload(previous[0]);
        upload.start();
      });
    });
    pause.addEventListener("click", () => {
      if (!upload) return;
      if (pause.dataset.paused) { delete pause.dataset.paused; upload.start(); }
      else { pause.dataset.paused = "1"; upload.abort(); say(box.dataset.sayPaused); }
    });
  }
  document.querySelectorAll("[data-recording-upload]").forEach(setup);
})();
