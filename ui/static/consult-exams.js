// The cloud-examination search of a consultation (SPEC 3.1), in the apply form and the room.
// <div data-exam-search data-zone="Asia/Shanghai" data-consultation="7" data-id-from="#p-id" data-his-from="#p-his"
//      data-search-url="/api/ward-rounds/examinations" (default: the consultations' search)
//      data-labels='{"attach": …, "nothing": …, "attached": …}'>
//   <button type="button" data-exam-find>…</button><div data-exam-results></div></div>
// Without data-consultation (the apply form) each hit is a checkbox; the form reads the
// ticked ones (input[name=examination_id]). With it (the room) each hit has an Attach button
// that app.js sends (button[data-api]) and the page reloads.
(function () {
  "use strict";

  function el(tag, attrs, text) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function describe(x, zone) {
    const clock = { dateStyle: "medium", timeStyle: "short", timeZone: zone || undefined };
    const when = x.exam_time ? new Date(x.exam_time).toLocaleString(document.documentElement.lang || undefined, clock) : "";
    return [
      [x.device_type, x.body_part].filter(Boolean).join(" "),
      x.check_item_name, when, x.accession_number, x.hospital_name, x.patient_name,
    ].filter(Boolean).join(" · ");
  }

  function value(selector) {
    const input = selector ? document.querySelector(selector) : null;
    return input ? input.value.trim() : "";
  }

  async function find(box) {
    const T = JSON.parse(box.dataset.labels || "{}");
    const results = box.querySelector("[data-exam-results]");
    const cid = box.dataset.consultation;
    const params = new URLSearchParams();
    const idNumber = box.dataset.idNumber || value(box.dataset.idFrom);
    const his = box.dataset.hisNumber || value(box.dataset.hisFrom);
    if (idNumber) params.set("id_number", idNumber);
    if (his) params.set("his_number", his);
    if (cid) params.set("consultation_id", cid);
    results.replaceChildren();
    let found;
    try {
      found = await aimis.api("GET", (box.dataset.searchUrl || "/api/consultations/examinations") + "?" + params.toString());
    } catch (err) {
      results.append(el("div", { class: "hit msg error", role: "alert" }, err.message));
      return;
    }
    if (!found.length) { results.append(el("div", { class: "hit muted" }, T.nothing)); return; }
    for (const x of found) {
      const hit = el("div", { class: "hit", "data-exam": x.id });
      if (cid) {
        hit.append(el("span", {}, describe(x, box.dataset.zone)));
        if (x.attached) {
          hit.append(el("span", { class: "tag" }, T.attached));
        } else {
          hit.append(el("button", {
            type: "button", class: "secondary", "data-api": "/api/consultations/" + cid + "/examinations",
            "data-body": JSON.stringify({ examination_ids: [x.id] }),
          }, T.attach));
        }
      } else {
        const label = el("label", {});
        label.append(el("input", { type: "checkbox", name: "examination_id", value: x.id }), document.createTextNode(" " + describe(x, box.dataset.zone)));
        hit.append(label);
      }
      results.append(hit);
    }
  }

  document.addEventListener("click", function (ev) {
    const button = ev.target.closest("[data-exam-find]");
    const box = button && button.closest("[data-exam-search]");
    if (box) find(box);
  });
})();
