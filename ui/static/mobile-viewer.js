// The light mobile viewer (SPEC 2.6): one image at a time, swipe or tap ‹ › to move.
// On a mobile network (cellular, data saver, or a 2g/3g-class connection) the image shown
// is the server's thumbnail and "View original" loads the full rendered frame; on Wi-Fi
// and wired networks the rendered frame loads at once. Neighbours are fetched ahead.
(function () {
  "use strict";
  const root = document.getElementById("mobile-viewer");
  if (!root) return;
  const wado = root.dataset.wado;
  const thumbs = Array.from(root.querySelectorAll(".mv-thumb"));
  const img = document.getElementById("mv-image");
  const loading = document.getElementById("mv-loading");
  const counter = document.getElementById("mv-counter");
  const kind = document.getElementById("mv-kind");
  const series = document.getElementById("mv-series");
  const originalButton = document.getElementById("mv-original");
  const stage = document.getElementById("mv-stage");
  const originals = new Set(); // indexes whose original the user asked for
  let index = 0;

  function onMobileNetwork() {
    const c = navigator.connection || navigator.mozConnection || navigator.webkitConnection;
    if (!c) return false;
    if (c.saveData) return true;
    if (c.type === "cellular") return true;
    return ["slow-2g", "2g", "3g"].indexOf(c.effectiveType) >= 0;
  }
  const thumbnailsFirst = onMobileNetwork();
  root.dataset.network = thumbnailsFirst ? "mobile" : "fast";

  function base(i) {
    const t = thumbs[i];
    return wado + "/series/" + t.dataset.series + "/instances/" + t.dataset.sop +
      "/frames/" + t.dataset.frame;
  }
  function urlFor(i, original) {
    return base(i) + (original ? "/rendered" : "/thumbnail");
  }
  function wantsOriginal(i) {
    return !thumbnailsFirst || originals.has(i);
  }

  function show(i) {
    index = Math.max(0, Math.min(thumbs.length - 1, i));
    const original = wantsOriginal(index);
    const url = urlFor(index, original);
    loading.hidden = false;
    loading.textContent = loading.dataset.text || loading.textContent;
    img.dataset.kind = original ? "original" : "thumbnail";
    img.src = url;
    counter.textContent = index + 1 + " / " + thumbs.length;
    kind.textContent = original ? root.dataset.labelOriginal : root.dataset.labelThumb;
    originalButton.hidden = original;
    series.textContent = thumbs[index].dataset.label || "";
    thumbs.forEach(function (t, n) { t.setAttribute("aria-current", n === index ? "true" : "false"); });
    thumbs[index].scrollIntoView({ block: "nearest", inline: "center" });
    prefetch(index + 1);
    prefetch(index - 1);
  }
  function prefetch(i) {
    if (i < 0 || i >= thumbs.length) return;
    const pre = new Image();
    pre.src = urlFor(i, wantsOriginal(i));
  }

  loading.dataset.text = loading.textContent;
  img.addEventListener("load", function () { loading.hidden = true; });
  img.addEventListener("error", function () {
    loading.hidden = false;
    loading.textContent = root.dataset.labelFailed;
  });
  originalButton.addEventListener("click", function () { originals.add(index); show(index); });
  document.getElementById("mv-prev").addEventListener("click", function () { show(index - 1); });
  document.getElementById("mv-next").addEventListener("click", function () { show(index + 1); });
  thumbs.forEach(function (t) {
    t.addEventListener("click", function () { show(Number(t.dataset.index)); });
  });
  document.addEventListener("keydown", function (ev) {
    if (ev.key === "ArrowLeft") show(index - 1);
    if (ev.key === "ArrowRight") show(index + 1);
  });

  // Swipe: a mostly horizontal move of 40 px or more.
  let start = null;
  stage.addEventListener("touchstart", function (ev) {
    if (ev.touches.length === 1) start = { x: ev.touches[0].clientX, y: ev.touches[0].clientY };
  }, { passive: true });
  stage.addEventListener("touchend", function (ev) {
    if (!start || ev.changedTouches.length !== 1) return;
    const dx = ev.changedTouches[0].clientX - start.x;
    const dy = ev.changedTouches[0].clientY - start.y;
    start = null;
    if (Math.abs(dx) >= 40 && Math.abs(dx) > Math.abs(dy)) show(index + (dx < 0 ? 1 : -1));
  });

  show(0);
})();
