// gridstream dashboard: polls /api/state and draws each site's day with uPlot.
"use strict";

const POLL_MS = 2000;
const QH_MS = 15 * 60 * 1000;
const charts = new Map(); // site_id -> {plot, el}

const kw = (w) => (w == null ? "–" : (w / 1000).toFixed(1) + " kW");
const time = (iso) => (iso ? new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }) : "–");
const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function table(el, head, rows, empty) {
  el.innerHTML = rows.length
    ? `<tr>${head.map((h) => `<th>${h}</th>`).join("")}</tr>` +
      rows.map((r) => `<tr>${r.map((c) => `<td${c.num ? ' class="num"' : ""}>${c.html ?? esc(c.text ?? c)}</td>`).join("")}</tr>`).join("")
    : `<tr><td class="empty">${empty}</td></tr>`;
}

// The day's quarter-hours as steps (s -> s + 15 min), flat peak and limit lines, and the
// open quarter-hour's projection as one more step.
function series(site) {
  const start = site.day_start;
  const xs = [], load = [], peak = [], limit = [], projected = [];
  const byStart = new Map(site.quarter_hours.map(([t, w]) => [t, w]));
  const end = site.open ? site.open.start + QH_MS : (site.quarter_hours.length ? site.quarter_hours.at(-1)[0] + QH_MS : start + QH_MS);
  for (let t = start; t <= end; t += QH_MS) {
    xs.push(t / 1000);
    load.push(byStart.has(t) ? byStart.get(t) / 1000 : null);
    // the open quarter-hour: a step from its start to its end
    const inOpen = site.open && (t === site.open.start || t === site.open.start + QH_MS);
    projected.push(inOpen ? site.open.projected_w / 1000 : null);
    peak.push(site.month_peak_w == null ? null : site.month_peak_w / 1000);
    limit.push(site.limit_w == null ? null : site.limit_w / 1000);
  }
  return [xs, load, projected, peak, limit];
}

function chart(site) {
  let entry = charts.get(site.site_id);
  const data = series(site);
  if (!entry) {
    const el = document.createElement("div");
    el.className = "site";
    el.dataset.site = site.site_id;
    el.innerHTML = `<h2>${esc(site.name || site.site_id)} <small>${esc(site.congestion_area || "")}</small></h2><div class="figures"></div><div class="plot"></div>`;
    document.getElementById("sites").appendChild(el);
    const steps = uPlot.paths.stepped({ align: 1 });
    const opts = {
      width: 440, height: 220,
      legend: { live: false },
      scales: { x: { time: true } },
      axes: [{}, { label: "kW", size: 50 }],
      series: [
        {},
        { label: "quarter-hour load", stroke: "#1f6feb", fill: "#1f6feb22", paths: steps, width: 2 },
        { label: "projected (open)", stroke: "#e8590c", paths: steps, width: 2, dash: [4, 3] },
        { label: "month peak", stroke: "#b3261e", width: 1, points: { show: false } },
        { label: "limit", stroke: "#2b2b2b", width: 1, dash: [8, 4], points: { show: false } },
      ],
    };
    entry = { el, plot: new uPlot(opts, data, el.querySelector(".plot")) };
    charts.set(site.site_id, entry);
  } else {
    entry.plot.setData(data);
  }
  const open = site.open;
  const over = open && site.limit_w != null && open.projected_w > site.limit_w;
  entry.el.querySelector(".figures").innerHTML =
    `<span>quarter-hours today <b class="qh-count">${site.quarter_hours.length}</b></span>` +
    `<span>month peak <b>${kw(site.month_peak_w)}</b></span>` +
    `<span>limit <b>${kw(site.limit_w)}</b></span>` +
    `<span>open quarter-hour <b class="projected${over ? " over" : ""}">${open ? kw(open.projected_w) : "–"}</b></span>`;
}

function render(state) {
  state.sites.forEach(chart);
  table(document.getElementById("alerts"), ["site", "quarter-hour", "projected", "crossed"],
    state.alerts.map((a) => [a.site_id, time(a.interval_start), { text: kw(a.projected_w), num: 1 }, `${a.crossed} ${kw(a.crossed_w)}`]),
    "none");
  table(document.getElementById("violations"), ["site", "since", "limit", "max over", "kWh over"],
    state.violations.map((v) => [v.site_id, time(v.start), { text: kw(v.limit_w), num: 1 }, { text: kw(v.max_exceedance_w), num: 1 }, { text: (v.energy_above_limit_wh / 1000).toFixed(2), num: 1 }]),
    "none");
  table(document.getElementById("flexibility"), ["area", "period", "baseline", "can reduce", "can increase", "sessions"],
    state.flexibility.map((f) => [f.congestion_area, time(f.interval_start), { text: kw(f.baseline_w), num: 1 }, { text: kw(f.reduce_w), num: 1 }, { text: kw(f.increase_w), num: 1 }, { text: f.sessions, num: 1 }]),
    "no flexibility on offer");
  table(document.getElementById("stations"), ["station", "site", "last message", ""],
    state.stations.map((s) => [s.station_id, s.site_id || "–", time(s.last_message), { html: s.online ? '<span class="online">online</span>' : '<span class="offline">offline</span>' }]),
    "no station yet");
  const online = state.stations.filter((s) => s.online).length;
  document.getElementById("status").textContent =
    `${state.sites.length} sites · ${online}/${state.stations.length} stations online · ` +
    (state.live === false ? "not live: the warehouse's figures (no broker)" : `updated ${time(state.as_of)}`);
  document.body.dataset.records = state.records;
}

async function poll() {
  try {
    const answer = await fetch("/api/state", { cache: "no-store" });
    if (answer.ok) render(await answer.json());
    else document.getElementById("status").textContent = `server said ${answer.status}`;
  } catch (e) {
    document.getElementById("status").textContent = "connection lost; retrying";
  }
  setTimeout(poll, POLL_MS);
}
poll();
