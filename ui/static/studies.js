// Study list: the compare button counts the chosen studies (at most data-max, default 4).
(function () {
  "use strict";
  const form = document.getElementById("compare-form");
  if (!form) return;
  const button = document.getElementById("compare");
  const count = document.getElementById("compare-count");
  const MAX = 4;
  function update() {
    const boxes = form.querySelectorAll("input[name=uid]");
    const chosen = form.querySelectorAll("input[name=uid]:checked").length;
    count.textContent = String(chosen);
    button.disabled = chosen === 0;
    for (const box of boxes) box.disabled = !box.checked && chosen >= MAX;
  }
  form.addEventListener("change", update);
  update();
})();
