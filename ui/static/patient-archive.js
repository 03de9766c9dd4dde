// The proof form (patients/add_examination.html): the chosen person decides where it is
// sent; empty date fields are left out of the body (the API takes no empty date).
(function () {
  "use strict";
  const form = document.getElementById("proof-form");
  if (!form) return;
  const person = document.getElementById("person");
  const date = document.getElementById("exam_date");
  person.addEventListener("change", function () {
    form.dataset.api = person.dataset.apiBase + person.value + "/proof";
  });
  form.addEventListener("submit", function () {
    date.disabled = date.value === "";
    setTimeout(function () { date.disabled = false; }, 0);
  }, true);
})();
