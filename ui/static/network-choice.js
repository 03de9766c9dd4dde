// Thumbnails or originals (SPEC 2.6). navigator.connection says so where it exists; iPhones
// (Safari) have none, so there the first downloads are timed and decide. A sample is the
// body's bytes over its transfer time (Resource Timing: responseStart → responseEnd, so the
// server's own rendering time does not count as a slow network) and the wait for its first
// byte. Pure decisions are on window.AimisNetwork so a page (or a test) can call them.
(function () {
  "use strict";
  const SLOW_KBPS = 1500; // body bytes over transfer time below this: a mobile network
  const SLOW_WAIT_MS = 1000; // or even the quickest first byte this late (latency)
  const SAMPLES = 2; // first downloads measured

  function fromConnection(c) {
    if (!c) return null;
    if (c.saveData || c.type === "cellular") return "mobile";
    if (["slow-2g", "2g", "3g"].indexOf(c.effectiveType) >= 0) return "mobile";
    return "fast";
  }
  // samples: [{bytes, ms, wait}] of completed downloads; null while fewer than `enough`.
  function fromSamples(samples, enough) {
    if (!samples.length || samples.length < (enough || SAMPLES)) return null;
    let bytes = 0, ms = 0;
    samples.forEach(function (s) { bytes += s.bytes; ms += Math.max(1, s.ms); });
    const kbps = (bytes * 8) / ms;
    const quickest = Math.min.apply(null, samples.map(function (s) { return s.wait || 0; }));
    return {
      choice: kbps < SLOW_KBPS || quickest > SLOW_WAIT_MS ? "mobile" : "fast",
      kbps: Math.round(kbps),
      waitMs: Math.round(quickest),
    };
  }
  // Fetch url and time it; resolves {bytes, ms, wait, blobUrl}.
  function timed(url) {
    const absolute = new URL(url, location.href).href;
    const t0 = performance.now();
    return fetch(absolute, { credentials: "same-origin" }).then(function (res) {
      if (!res.ok) throw new Error(String(res.status));
      return res.blob();
    }).then(function (blob) {
      const total = performance.now() - t0;
      const entry = performance.getEntriesByName(absolute).pop();
      const timing = entry && entry.responseEnd > 0 && entry.responseStart > 0;
      return {
        bytes: blob.size,
        ms: timing ? entry.responseEnd - entry.responseStart : total,
        wait: timing ? entry.responseStart - entry.requestStart : 0,
        blobUrl: URL.createObjectURL(blob),
      };
    });
  }
  const nav = navigator;
  window.AimisNetwork = {
    connection: function () { return fromConnection(nav.connection || nav.mozConnection || nav.webkitConnection); },
    fromConnection: fromConnection,
    fromSamples: fromSamples,
    timed: timed,
    SAMPLES: SAMPLES,
  };
})();
