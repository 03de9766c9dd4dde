// Charts of the statistics pages (ECharts 6, /vendor/echarts/echarts.min.js), one helper for
// every feature that draws one (statistics, quality control). The page writes the chart as
// data, never as code: an element with class "chart" and data-chart-spec naming the id of a
// <script type="application/json"> holding
//   {"type": "bar" | "line", "stacked": bool, "labels": [...],
//    "series": [{"name": "...", "values": [...], "links": [url per point] | null}],
//    "yName": "..."}
// A click on a bar or point with a link goes there (the drill-down); the chart follows its
// element's size (desktop and phone), and window.aimisCharts[id] is the ECharts instance
// (the browser tests click a bar through its pixel position).
(function () {
  "use strict";
  var PALETTE = ["#0b6bcb", "#e67e22", "#1e8449", "#8e44ad", "#c0392b", "#16a085"];
  window.aimisCharts = window.aimisCharts || {};

  function option(spec) {
    var narrow = window.matchMedia("(max-width: 640px)").matches;
    return {
      color: PALETTE,
      animation: false,
      tooltip: { trigger: "axis", confine: true },
      legend: { top: 0, type: "scroll" },
      grid: { left: 8, right: 16, top: 36, bottom: narrow ? 56 : 40, containLabel: true },
      xAxis: {
        type: "category",
        data: spec.labels,
        axisLabel: { rotate: narrow ? 45 : 0, hideOverlap: true },
      },
      yAxis: { type: "value", name: spec.yName || "", minInterval: 1 },
      dataZoom: spec.labels.length > 40 ? [{ type: "inside" }, { type: "slider", height: 18, bottom: 4 }] : [],
      series: spec.series.map(function (s) {
        return {
          name: s.name,
          type: spec.type,
          stack: spec.stacked ? "all" : undefined,
          data: s.values,
          showSymbol: spec.type === "line" && spec.labels.length <= 60,
          cursor: s.links ? "pointer" : "default",
          emphasis: { focus: "series" },
        };
      }),
    };
  }

  function mount(el) {
    var source = document.getElementById(el.dataset.chartSpec);
    if (!source || !window.echarts) return;
    var spec = JSON.parse(source.textContent);
    var chart = window.echarts.init(el, null, { renderer: "canvas" });
    chart.setOption(option(spec));
    chart.on("click", function (params) {
      var s = spec.series[params.seriesIndex];
      var link = s && s.links && s.links[params.dataIndex];
      if (link) window.location.assign(link);
    });
    window.aimisCharts[el.id] = chart;
    if (window.ResizeObserver) {
      new ResizeObserver(function () { chart.resize(); }).observe(el);
    }
  }

  function mountAll() {
    document.querySelectorAll(".chart[data-chart-spec]").forEach(mount);
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", mountAll);
  } else {
    mountAll();
  }
})();
