// "Open images" on a phone-sized screen (SPEC 2.6): links to OHIF for one study
// (/viewer?StudyInstanceUIDs=…) go to the touch viewer instead, in the same tab; desktops keep
// OHIF. Delegated, so rows swapped in by htmx follow it too.
(function () {
  "use strict";
  const PHONE = window.matchMedia("(max-width: 640px)");
  document.addEventListener("click", function (ev) {
    if (!PHONE.matches || ev.defaultPrevented || ev.button !== 0) return;
    const link = ev.target.closest && ev.target.closest('a[href^="/viewer?StudyInstanceUIDs="], a[href^="/viewer/viewer?StudyInstanceUIDs="]');
    if (!link) return;
    const uids = new URL(link.href, location.href).searchParams.get("StudyInstanceUIDs") || "";
    if (!uids || uids.indexOf(",") >= 0) return; // several studies side by side: OHIF only
    ev.preventDefault();
    location.href = "/studies/phone?uid=" + encodeURIComponent(uids);
  });
})();
