// Quality control pages (SPEC 7): the new-task form, the evaluation and arbitration forms,
// and the statistics page's charts (ECharts), drill-down and download links.
(function () {
  "use strict";

  function val(id) {
    const el = document.getElementById(id);
    return el ? el.value.trim() : "";
  }
  function num(id) {
    const v = val(id);
    return v === "" ? null : Number(v);
  }
  function checked(id) {
    return Array.from(document.querySelectorAll("#" + id + " input[type=checkbox]:checked")).map(function (el) { return el.value; });
  }
  function say(form, text, ok) {
    const box = form.querySelector("[data-msg]");
    box.textContent = text;
    box.className = ok ? "msg ok" : "msg error";
    box.setAttribute("role", ok ? "status" : "alert");
  }
  function submit(form, build, then) {
    form.addEventListener("submit", async function (ev) {
      ev.preventDefault();
      const button = form.querySelector("[type=submit]");
      button.disabled = true;
      try {
        const sent = build();
        then(await aimis.api("POST", sent.url, sent.body));
      } catch (err) {
        say(form, err.message, false);
      } finally {
        button.disabled = false;
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    const created = document.getElementById("qc-new");
    if (created) {
      submit(created, function () {
        const arbitrator = val("q-arbitrator");
        return {
          url: "/api/quality/tasks",
          body: {
            name: val("q-name"),
            criteria: {
              date_from: val("q-from"), date_to: val("q-to"), device_type: val("q-type"),
              device_name: val("q-device"), body_part: val("q-body"),
              departments: checked("q-departments").map(Number),
            },
            sample_size: num("q-size"),
            sample_percent: num("q-percent"),
            objects: checked("q-objects"),
            evaluators: checked("q-evaluators").map(Number),
            arbitrator: arbitrator ? Number(arbitrator) : null,
            blind: document.getElementById("q-blind").checked,
          },
        };
      }, function (task) { location.href = "/quality/" + task.id; });
    }

    const evaluation = document.getElementById("qc-evaluate");
    if (evaluation) {
      submit(evaluation, function () {
        const body = { version: Number(evaluation.dataset.version) };
        const series = Array.from(evaluation.querySelectorAll(".series-grade")).map(function (row) {
          return { series_uid: row.dataset.uid, grade: row.querySelector(".grade").value, reasons: row.querySelector(".reasons").value };
        });
        if (series.length) body.series = series;
        if (document.getElementById("e-initial")) { body.initial_score = num("e-initial"); body.initial_comment = val("e-initial-c"); }
        if (document.getElementById("e-review")) { body.review_score = num("e-review"); body.review_comment = val("e-review-c"); }
        if (document.getElementById("e-radpeer")) { body.radpeer = val("e-radpeer"); body.radpeer_comment = val("e-radpeer-c"); }
        return { url: "/api/quality/cases/" + evaluation.dataset.case + "/evaluation", body: body };
      }, function () { location.reload(); });
    }

    const arbitration = document.getElementById("qc-arbitrate");
    if (arbitration) {
      submit(arbitration, function () {
        return {
          url: "/api/quality/cases/" + arbitration.dataset.case + "/arbitration",
          body: { version: Number(arbitration.dataset.version), radpeer: val("a-radpeer"), comment: val("a-comment") },
        };
      }, function () { location.reload(); });
    }

    const data = document.getElementById("qc-data");
    if (data) statistics(JSON.parse(data.textContent));
  });

  function query(d, extra) {
    const q = new URLSearchParams({ by: d.by });
    if (d.task_id) q.set("task_id", d.task_id);
    for (const [k, v] of Object.entries(extra)) q.set(k, v);
    return q.toString();
  }

  function percent(v) { return v === null ? null : Math.round(v * 1000) / 10; }

  function statistics(d) {
    async function drill(key, label) {
      const rows = await aimis.api("GET", "/api/quality/statistics/cases?" + query(d, { key: key }));
      const box = document.getElementById("qc-drill");
      box.hidden = false;
      document.getElementById("drill-title").textContent = label + " (" + rows.length + ")";
      const body = document.getElementById("drill-rows");
      body.replaceChildren();
      for (const r of rows) {
        const tr = document.createElement("tr");
        const a = document.createElement("a");
        a.href = "/quality/cases/" + r.id;
        a.textContent = r.accession_number || String(r.id);
        const cells = [a, r.device_type, r.evaluator, r.state, r.radpeer + (r.arbiter_radpeer ? " → " + r.arbiter_radpeer : "")];
        for (const c of cells) {
          const td = document.createElement("td");
          if (typeof c === "string") td.textContent = c; else td.appendChild(c);
          tr.appendChild(td);
        }
        body.appendChild(tr);
      }
      for (const fmt of ["csv", "xlsx"]) {
        const link = document.getElementById("dl-" + fmt);
        if (link) link.href = "/api/quality/statistics/download?" + query(d, { key: key, format: fmt });
      }
    }
    document.querySelectorAll("a.drill").forEach(function (a) {
      a.addEventListener("click", function (ev) { ev.preventDefault(); drill(a.dataset.key, a.textContent); });
    });
    if (!window.echarts) return;
    const labels = d.groups.map(function (g) { return g.label; });
    // no growing bars for who asked the system for less motion (and a bar is where it is drawn)
    const still = window.matchMedia("(prefers-reduced-motion: reduce)").matches;
    const chart = window.echarts.init(document.getElementById("qc-chart"));
    chart.setOption({
      animation: !still,
      tooltip: { trigger: "axis" },
      legend: {},
      xAxis: { type: "category", data: labels },
      yAxis: [{ type: "value", name: "%", max: 100 }],
      series: [
        { name: d.labels.excellent, type: "bar", data: d.groups.map(function (g) { return percent(g.excellent_rate); }) },
        { name: d.labels.reject, type: "bar", data: d.groups.map(function (g) { return percent(g.reject_rate); }) },
        { name: d.labels.discrepancy, type: "bar", data: d.groups.map(function (g) { return percent(g.discrepancy_rate); }) },
      ],
    });
    chart.on("click", function (p) { const g = d.groups[p.dataIndex]; if (g) drill(g.key, g.label); });
    const trend = window.echarts.init(document.getElementById("qc-trend"));
    trend.setOption({
      animation: !still,
      tooltip: { trigger: "axis" },
      legend: {},
      xAxis: { type: "category", data: d.trend.map(function (t) { return t.period; }) },
      yAxis: { type: "value", name: "%", max: 100 },
      series: [
        { name: d.labels.excellent, type: "line", data: d.trend.map(function (t) { return percent(t.excellent_rate); }) },
        { name: d.labels.reject, type: "line", data: d.trend.map(function (t) { return percent(t.reject_rate); }) },
        { name: d.labels.discrepancy, type: "line", data: d.trend.map(function (t) { return percent(t.discrepancy_rate); }) },
      ],
    });
    document.getElementById("qc-chart").dataset.ready = "1";
  }
})();
