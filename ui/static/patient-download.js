// The original images' download (patients/examination.html, SPEC 10.6): ask for the
// security code (texted to her phone), enter it, then the zip's link (valid 30 minutes).
(function () {
  "use strict";
  const box = document.getElementById("download");
  if (!box) return;
  const ask = document.getElementById("download-ask");
  const form = document.getElementById("download-code-form");
  const input = document.getElementById("download-code");
  const status = document.getElementById("download-status");
  const ready = document.getElementById("download-ready");
  const link = document.getElementById("download-link");
  const label = ask.textContent;
  let requestId = null;
  let timer = null;

  function say(text, error) {
    status.textContent = text;
    status.className = error ? "msg error" : "muted";
  }
  function countdown(seconds) {
    let left = seconds;
    ask.disabled = true;
    clearInterval(timer);
    const show = function () { ask.textContent = box.dataset.resend.replace("{n}", left); };
    show();
    timer = setInterval(function () {
      left -= 1;
      if (left <= 0) { clearInterval(timer); ask.disabled = false; ask.textContent = label; return; }
      show();
    }, 1000);
  }
  ask.addEventListener("click", async function () {
    try {
      const out = await aimis.api("POST", box.dataset.ask);
      requestId = out.id;
      say(out.message, false);
      form.hidden = false;
      ready.hidden = true;
      input.value = "";
      input.focus();
      countdown(out.resend_after);
    } catch (err) {
      say(err.message, true);
      const wait = err.data && err.data.retry_after;
      if (wait) countdown(Math.min(wait, 3600));
    }
  });
  form.addEventListener("submit", async function (ev) {
    ev.preventDefault();
    try {
      const out = await aimis.api("POST", "/api/patient/downloads/" + requestId + "/code", { code: input.value });
      say(out.message, false);
      link.href = out.url;
      ready.hidden = false;
      form.hidden = true;
    } catch (err) {
      say(err.message, true);
      if (err.status === 410) form.hidden = true;
    }
  });
})();
