// The console's only script: draws the dashboard's charts from the JSON block the page carries
// (the Content-Security-Policy allows no inline script), and asks before irreversible actions.
(function () {
  "use strict";

  var RED = "#c8102e", GOLD = "#e8b64c", GREEN = "#3a9d5d", YELLOW = "#e0a800", GREY = "#8a8a8a";

  function monthsOption(rows) {
    return {
      tooltip: { trigger: "axis" },
      legend: { top: 0, right: 0, data: ["收集", "办结", "办结率"] },
      grid: { left: 48, right: 48, bottom: 32, top: 40 },
      xAxis: { type: "category", data: rows.map(function (r) { return r.month; }) },
      yAxis: [{ type: "value", name: "条", minInterval: 1 },
              { type: "value", name: "办结率", min: 0, max: 100, axisLabel: { formatter: "{value}%" } }],
      series: [
        { name: "收集", type: "bar", data: rows.map(function (r) { return r.received; }), itemStyle: { color: RED } },
        { name: "办结", type: "bar", data: rows.map(function (r) { return r.resolved; }), itemStyle: { color: GOLD } },
        { name: "办结率", type: "line", yAxisIndex: 1, itemStyle: { color: GREEN },
          data: rows.map(function (r) { return r.rate === null ? null : Math.round(r.rate * 1000) / 10; }) }
      ]
    };
  }

  function categoriesOption(rows) {
    return {
      tooltip: { trigger: "item", formatter: "{b}：{c} 条（{d}%）" },
      series: [{ type: "pie", radius: ["35%", "65%"], data: rows, label: { formatter: "{b} {c}" } }]
    };
  }

  function clocksOption(clocks) {
    return {
      tooltip: { trigger: "item" },
      grid: { left: 64, right: 24, bottom: 24, top: 16 },
      xAxis: { type: "value", minInterval: 1 },
      yAxis: { type: "category", data: ["正常", "将超期", "超期"] },
      series: [{ type: "bar", data: [
        { value: clocks.green, itemStyle: { color: GREEN } },
        { value: clocks.yellow, itemStyle: { color: YELLOW } },
        { value: clocks.red, itemStyle: { color: RED } }
      ], label: { show: true, position: "right" } }]
    };
  }

  function stationsOption(rows) {
    var shown = rows.slice().reverse();
    return {
      tooltip: { trigger: "axis" },
      legend: { top: 0, right: 0, data: ["收集", "办结"] },
      grid: { left: 150, right: 24, bottom: 24, top: 32 },
      xAxis: { type: "value", minInterval: 1 },
      yAxis: { type: "category", data: shown.map(function (r) { return r.name; }),
               axisLabel: { width: 140, overflow: "truncate" } },
      series: [
        { name: "收集", type: "bar", data: shown.map(function (r) { return r.received; }), itemStyle: { color: RED } },
        { name: "办结", type: "bar", data: shown.map(function (r) { return r.resolved; }), itemStyle: { color: GOLD } }
      ]
    };
  }

  var BUILDERS = { months: monthsOption, categories: categoriesOption, clocks: clocksOption,
                   stations: stationsOption };

  function drawCharts() {
    var source = document.getElementById("chart-data");
    if (!source || !window.echarts) { return; }
    var data = JSON.parse(source.textContent);
    var charts = [];
    document.querySelectorAll("[data-chart]").forEach(function (el) {
      var name = el.getAttribute("data-chart");
      var rows = data[name];
      var empty = !rows || (Array.isArray(rows) && rows.length === 0);
      if (empty) {
        el.classList.add("empty-chart");
        el.textContent = "期间内没有数据";
        el.setAttribute("data-rendered", "empty");
        return;
      }
      var chart = window.echarts.init(el, null, { renderer: "canvas" });
      chart.on("finished", function () { el.setAttribute("data-rendered", "1"); });
      chart.setOption(Object.assign({ animation: false, color: [RED, GOLD, GREEN, YELLOW, GREY] },
                                    BUILDERS[name](rows)));
      charts.push(chart);
    });
    window.addEventListener("resize", function () { charts.forEach(function (c) { c.resize(); }); });
  }

  function confirmDanger() {
    document.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        if (!window.confirm(form.getAttribute("data-confirm"))) { event.preventDefault(); }
      });
    });
  }

  // A form sent after the session ended comes back as the sign-in page carrying what was typed
  // (#kept-draft); it waits in sessionStorage until the page the form was on is shown again,
  // and is put back into that form — never submitted by itself.
  var DRAFT_KEY = "console-kept-draft";

  function keepDraft() {
    var source = document.getElementById("kept-draft");
    if (!source) { return; }
    try { window.sessionStorage.setItem(DRAFT_KEY, source.textContent); } catch (e) { /* storage off */ }
  }

  function restoreDraft() {
    var saved;
    try { saved = window.sessionStorage.getItem(DRAFT_KEY); } catch (e) { return; }
    if (!saved) { return; }
    var draft = JSON.parse(saved);
    var form = Array.prototype.find.call(document.querySelectorAll("form[method=post]"), function (f) {
      return new URL(f.action, window.location.href).pathname === draft.action;
    });
    if (!form) { return; }
    window.sessionStorage.removeItem(DRAFT_KEY);
    Object.keys(draft.fields).forEach(function (name) {
      var field = form.elements.namedItem(name);
      if (!field) { return; }
      if (field.type === "checkbox") { field.checked = true; } else { field.value = draft.fields[name]; }
    });
    var notice = document.createElement("p");
    notice.className = "flash warning";
    notice.setAttribute("role", "status");
    notice.textContent = "已恢复登录超时前输入的内容，请核对后再次提交。";
    form.insertBefore(notice, form.firstChild);
    var first = form.querySelector("textarea, input:not([type=hidden]), select");
    if (first) { first.focus(); }
    form.scrollIntoView({ block: "center" });
  }

  document.addEventListener("DOMContentLoaded", function () {
    drawCharts();
    confirmDanger();
    keepDraft();
    restoreDraft();
  });
}());
