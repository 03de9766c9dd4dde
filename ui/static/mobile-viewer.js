// The touch viewer (SPEC 2.6; template studies/_touch_viewer.html): series first, one image
// at a time; swipe or ‹ › to move, pinch to zoom (one finger pans when zoomed, double-tap
// fits), CT window presets as WADO-RS `window=` on the rendered frame. Thumbnails or originals
// by network-choice.js: navigator.connection, else the first downloads are timed.
// "View original" is always offered while a thumbnail is shown.
(function () {
  "use strict";
  const root = document.getElementById("mobile-viewer");
  if (!root) return;
  const net = window.AimisNetwork;
  const wado = root.dataset.wado;
  const thumbs = Array.from(root.querySelectorAll(".mv-thumb"));
  const seriesButtons = Array.from(root.querySelectorAll(".mv-series-thumb"));
  const presets = Array.from(root.querySelectorAll(".mv-preset"));
  const img = document.getElementById("mv-image");
  const loading = document.getElementById("mv-loading");
  const counter = document.getElementById("mv-counter");
  const kind = document.getElementById("mv-kind");
  const seriesLine = document.getElementById("mv-series");
  const originalButton = document.getElementById("mv-original");
  const stage = document.getElementById("mv-stage");
  const originals = new Set(); // indexes whose original the user asked for
  let index = 0;
  let afterLoad = null; // what to fetch ahead when the stage's picture has loaded
  let windowParam = ""; // "center,width" of the chosen preset, "" for the file's own window
  let network = net.connection(); // "mobile" | "fast" | null (not known yet: measure)
  const samples = [];
  root.dataset.network = network || "measuring";
  root.dataset.networkSource = network ? "connection" : "measured";

  function base(i) {
    const t = thumbs[i];
    return wado + "/series/" + t.dataset.series + "/instances/" + t.dataset.sop +
      "/frames/" + t.dataset.frame;
  }
  function wantsOriginal(i) { return network === "fast" || originals.has(i); }
  function urlFor(i, original) {
    if (original) return base(i) + "/rendered" + (windowParam ? "?window=" + windowParam : "");
    return base(i) + "/thumbnail" + (windowParam ? "?window=" + windowParam : "");
  }

  function setScale(s, x, y) {
    const scale = Math.max(1, Math.min(8, s));
    const pan = scale === 1 ? { x: 0, y: 0 } : { x: x || 0, y: y || 0 };
    img.dataset.scale = String(Math.round(scale * 100) / 100);
    img.dataset.panX = String(pan.x);
    img.dataset.panY = String(pan.y);
    img.style.transform = "translate(" + pan.x + "px," + pan.y + "px) scale(" + scale + ")";
  }
  function scale() { return Number(img.dataset.scale || "1"); }

  function load(url) {
    loading.hidden = false;
    loading.textContent = loading.dataset.text;
    if (network !== null) { img.src = url; return; }
    net.timed(url).then(function (got) { // measuring: this download is a sample
      samples.push(got);
      img.src = got.blobUrl;
      const next = index + 1 < thumbs.length ? net.timed(urlFor(index + 1, false)) : null;
      if (!next) { decide(samples.length); return; }
      next.then(function (more) { samples.push(more); decide(net.SAMPLES); });
    }).catch(function () { loading.textContent = root.dataset.labelFailed; });
  }
  function decide(enough) {
    const verdict = net.fromSamples(samples, enough);
    if (!verdict || network !== null) return;
    network = verdict.choice;
    root.dataset.network = network;
    root.dataset.measuredKbps = String(verdict.kbps);
    root.dataset.measuredWaitMs = String(verdict.waitMs);
    show(index, true);
  }

  function show(i, keepZoom) {
    index = Math.max(0, Math.min(thumbs.length - 1, i));
    const original = wantsOriginal(index);
    if (!keepZoom) setScale(1);
    img.dataset.kind = original ? "original" : "thumbnail";
    load(urlFor(index, original));
    counter.textContent = index + 1 + " / " + thumbs.length;
    kind.textContent = original ? root.dataset.labelOriginal : root.dataset.labelThumb;
    originalButton.hidden = original;
    seriesLine.textContent = thumbs[index].dataset.label || "";
    thumbs.forEach(function (t, n) { t.setAttribute("aria-current", n === index ? "true" : "false"); });
    const series = thumbs[index].dataset.series;
    seriesButtons.forEach(function (b) { b.setAttribute("aria-current", b.dataset.series === series ? "true" : "false"); });
    thumbs[index].scrollIntoView({ block: "nearest", inline: "center" });
    // the neighbours are fetched ahead once this one is on screen, not alongside it
    const shown = index;
    afterLoad = network === null ? null : function () { prefetch(shown + 1); prefetch(shown - 1); };
  }
  function prefetch(i) {
    if (i < 0 || i >= thumbs.length) return;
    const pre = new Image();
    pre.src = urlFor(i, wantsOriginal(i));
  }

  // The stage's picture first: the frame strip's thumbnails (a dozen on a phone's screen,
  // data-src in the page) start once it is there, so they do not share the few connections
  // and the bandwidth with it (bench/patient_phone_viewer.py: about 0.4 s sooner on 1.6 Mbit/s).
  img.fetchPriority = "high";
  function stripThumbnails() {
    root.querySelectorAll("#mv-strip img[data-src]").forEach(function (t) {
      t.src = t.dataset.src;
      t.removeAttribute("data-src");
    });
  }
  loading.dataset.text = loading.textContent;
  img.addEventListener("load", function () {
    loading.hidden = true;
    stripThumbnails();
    const next = afterLoad;
    afterLoad = null;
    if (next) next();
  });
  img.addEventListener("error", function () {
    loading.hidden = false;
    loading.textContent = root.dataset.labelFailed;
    stripThumbnails();
  });
  originalButton.addEventListener("click", function () { originals.add(index); show(index, true); });
  document.getElementById("mv-prev").addEventListener("click", function () { show(index - 1); });
  document.getElementById("mv-next").addEventListener("click", function () { show(index + 1); });
  thumbs.forEach(function (t) { t.addEventListener("click", function () { show(Number(t.dataset.index)); }); });
  seriesButtons.forEach(function (b) { b.addEventListener("click", function () { show(Number(b.dataset.first)); }); });
  presets.forEach(function (p) {
    p.addEventListener("click", function () {
      windowParam = p.dataset.window;
      presets.forEach(function (q) { q.setAttribute("aria-pressed", q === p ? "true" : "false"); });
      show(index, true);
    });
  });
  document.addEventListener("keydown", function (ev) {
    if (ev.key === "ArrowLeft") show(index - 1);
    if (ev.key === "ArrowRight") show(index + 1);
  });

  // Touch: one finger swipes (40 px, mostly horizontal) or pans when zoomed; two pinch.
  let start = null, pinch = null, lastTap = 0;
  function distance(t) { return Math.hypot(t[0].clientX - t[1].clientX, t[0].clientY - t[1].clientY); }
  stage.addEventListener("touchstart", function (ev) {
    if (ev.touches.length === 2) {
      start = null;
      pinch = { d: distance(ev.touches), s: scale() };
    } else if (ev.touches.length === 1 && !pinch) {
      start = { x: ev.touches[0].clientX, y: ev.touches[0].clientY,
        px: Number(img.dataset.panX || 0), py: Number(img.dataset.panY || 0) };
    }
  }, { passive: true });
  stage.addEventListener("touchmove", function (ev) {
    if (pinch && ev.touches.length === 2) {
      ev.preventDefault();
      setScale(pinch.s * distance(ev.touches) / pinch.d, Number(img.dataset.panX || 0), Number(img.dataset.panY || 0));
    } else if (start && ev.touches.length === 1 && scale() > 1) {
      ev.preventDefault();
      setScale(scale(), start.px + ev.touches[0].clientX - start.x, start.py + ev.touches[0].clientY - start.y);
    }
  }, { passive: false });
  stage.addEventListener("touchend", function (ev) {
    if (pinch) { if (ev.touches.length === 0) pinch = null; return; }
    if (!start || ev.changedTouches.length !== 1) return;
    const dx = ev.changedTouches[0].clientX - start.x;
    const dy = ev.changedTouches[0].clientY - start.y;
    start = null;
    if (Math.abs(dx) < 10 && Math.abs(dy) < 10) {
      const t = Date.now();
      if (t - lastTap < 350) setScale(1);
      lastTap = t;
      return;
    }
    if (scale() === 1 && Math.abs(dx) >= 40 && Math.abs(dx) > Math.abs(dy)) show(index + (dx < 0 ? 1 : -1));
  });

  show(0);
})();
