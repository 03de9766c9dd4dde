// Share links (api/patient_shares): the made link and its generated password, shown once;
// the recipient's thumbnails open their frame in the large picture.
(function () {
  "use strict";
  const form = document.getElementById("share-form");
  if (form) {
    form.addEventListener("aimis:done", function (ev) {
      ev.preventDefault();
      const made = ev.detail;
      form.hidden = true;
      document.getElementById("share-made").hidden = false;
      document.getElementById("share-url").value = location.origin + made.url;
      if (made.password) {
        document.getElementById("share-password-shown").hidden = false;
        document.getElementById("share-made-password").value = made.password;
      }
    });
  }
  const frame = document.getElementById("share-frame");
  document.addEventListener("click", function (ev) {
    const link = ev.target.closest("a[data-frame]");
    if (!link || !frame) return;
    ev.preventDefault();
    frame.src = link.getAttribute("href");
  });
})();
