// Simpang central dashboard: sites, live phase and queues, counts and queue charts.
// Plain JavaScript and hand-drawn SVG: nothing is fetched from outside this server.
"use strict";

const CLASSES = ["car", "motorcycle", "bus", "truck", "bicycle", "person"];
const CLASS_COLOURS = {
  car: "#58a6ff", motorcycle: "#f0883e", bus: "#a371f7", truck: "#d29922", bicycle: "#3fb950", person: "#8b949e",
};
const SERIES_COLOURS = ["#2f9e8f", "#f0883e", "#58a6ff", "#a371f7", "#d29922", "#f85149", "#3fb950", "#db61a2"];
const BIN_FOR_WINDOW = { 3600: 60, 21600: 300, 86400: 900 };
const params = new URLSearchParams(location.search);
const REFRESH_MS = Math.max(500, Number(params.get("refresh")) || 5000);

const state = { token: null, site: params.get("site"), window: 3600, timer: null, busy: false };
const $ = (id) => document.getElementById(id);
const SVG_NS = "http://www.w3.org/2000/svg";

// --- token -----------------------------------------------------------------------------------
function loadToken() {
  const m = location.hash.match(/token=([^&]+)/);
  if (m) {
    localStorage.setItem("simpangToken", decodeURIComponent(m[1]));
    history.replaceState(null, "", location.pathname + location.search);
  }
  state.token = localStorage.getItem("simpangToken");
}

class AuthError extends Error {}

async function api(path) {
  const headers = state.token ? { Authorization: `Bearer ${state.token}` } : {};
  const r = await fetch(path, { headers });
  if (r.status === 401) throw new AuthError("token required");
  if (r.status === 404) return null;
  if (!r.ok) throw new Error(`${path}: HTTP ${r.status}`);
  return r.json();
}

function showLogin(message) {
  $("login").hidden = false;
  $("login-error").textContent = message || "";
}

// --- formatting ------------------------------------------------------------------------------
const fmtTime = (ts) => new Date(ts * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
function ago(ts) {
  const s = Math.max(0, Date.now() / 1000 - ts);
  if (s < 90) return `${Math.round(s)} s ago`;
  if (s < 5400) return `${Math.round(s / 60)} min ago`;
  return `${Math.round(s / 3600)} h ago`;
}
const sum = (obj) => Object.values(obj || {}).reduce((a, b) => a + b, 0);

function el(tag, attrs, text) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

function svg(tag, attrs) {
  const e = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  return e;
}

// --- sites -----------------------------------------------------------------------------------
function renderSites(sites) {
  const list = $("site-list");
  list.replaceChildren();
  $("site-count").textContent = sites.length;
  $("no-sites").hidden = sites.length > 0;
  for (const s of sites) {
    const li = el("li", { "data-site": s.site });
    li.append(el("span", { class: `dot ${s.online ? "ok" : "err"}` }), el("span", { class: "name" }, s.site));
    li.append(el("span", { class: "meta" }, `${s.online ? "online" : "offline"} · seen ${ago(s.last_seen)}`));
    if (s.site === state.site) li.classList.add("selected");
    li.addEventListener("click", () => { state.site = s.site; refresh(); });
    list.append(li);
  }
  if (!state.site && sites.length) state.site = sites[0].site;
}

// --- live status -----------------------------------------------------------------------------
function renderStatus(st, plan) {
  $("site-title").textContent = st.site.site;
  const pill = $("site-online");
  pill.textContent = st.site.online ? "online" : "offline";
  pill.className = `pill ${st.site.online ? "online" : "offline"}`;
  $("site-meta").textContent = `${st.site.messages.toLocaleString()} messages · link lag ${st.site.lag_s.toFixed(1)} s`;
  const h = st.health;
  $("phase").textContent = h && h.phase.length ? h.phase.map((p) => `Φ${p}`).join(" + ") : "–";
  $("mode").textContent = h ? `control: ${h.control_mode}` : "no heartbeat yet";
  $("plan").textContent = plan ? `v${plan.version}` : h && h.plan_version ? `v${h.plan_version}` : "–";
  $("plan-sub").textContent = plan ? `${plan.author}${plan.note ? " · " + plan.note : ""}` : "site file plan";
  const agg = st.aggregate;
  if (agg) {
    const counts = classTotals(agg);
    $("last-count").textContent = sum(counts).toLocaleString();
    $("last-count-sub").textContent = `${fmtTime(agg.start)} · ${Math.round(agg.duration_s)} s · ` +
      CLASSES.filter((c) => counts[c]).map((c) => `${c} ${counts[c]}`).join(", ");
  } else {
    $("last-count").textContent = "–";
    $("last-count-sub").textContent = "no aggregate yet";
  }
  if (h) {
    const camsOk = h.cameras.filter((c) => c.ok).length;
    $("edge-health").textContent = `${camsOk}/${h.cameras.length} cams`;
    $("edge-sub").textContent = `${h.detector_fps.toFixed(1)} det fps · spool ${h.spool_depth}` +
      (h.spool_evicted ? ` · ${h.spool_evicted} evicted` : "");
  } else {
    $("edge-health").textContent = "–";
    $("edge-sub").textContent = "";
  }
  renderQueues(h ? h.queues : {});
  renderApproaches(agg ? agg.approaches : []);
}

function renderApproaches(approaches) {
  const body = $("approach-rows");
  body.replaceChildren();
  for (const a of [...approaches].sort((x, y) => x.approach.localeCompare(y.approach))) {
    const cells = [
      a.approach, Math.round(a.flow_pcu_h).toLocaleString(), `${Math.round(100 * a.occupancy)}%`,
      a.queue_veh_max.toFixed(0), a.speed_mps_mean === null ? "–" : (a.speed_mps_mean * 3.6).toFixed(0),
    ];
    const tr = el("tr", { "data-approach": a.approach });
    cells.forEach((c) => tr.append(el("td", {}, String(c))));
    body.append(tr);
  }
  $("approach-table").hidden = approaches.length === 0;
}

function classTotals(agg) {
  // Approach arrivals count each vehicle once; fall back to movements, then to line crossings.
  const out = {};
  const add = (counts) => { for (const [k, v] of Object.entries(counts)) out[k] = (out[k] || 0) + v; };
  if (agg.approaches.length) agg.approaches.forEach((a) => add(a.arrivals));
  else if (agg.movements.length) agg.movements.forEach((m) => add(m.counts));
  else agg.lines.forEach((l) => add(l.counts));
  return out;
}

function renderQueues(queues) {
  const box = $("queues");
  box.replaceChildren();
  const entries = Object.entries(queues).sort();
  if (!entries.length) { box.append(el("p", { class: "muted" }, "No live queue data.")); return; }
  const max = Math.max(10, ...entries.map(([, v]) => v));
  for (const [approach, v] of entries) {
    const row = el("div", { class: "row", "data-approach": approach });
    const bar = el("div", { class: "bar" });
    const fill = el("div", { class: "fill" });
    fill.style.width = `${(100 * v) / max}%`;
    bar.append(fill);
    row.append(el("span", {}, approach), bar, el("span", { class: "num" }, v.toFixed(1)));
    box.append(row);
  }
}

// --- charts ----------------------------------------------------------------------------------
function binTotals(bin) {
  const out = {};
  const add = (counts) => { for (const [k, v] of Object.entries(counts)) out[k] = (out[k] || 0) + v; };
  const approaches = Object.values(bin.approaches);
  if (approaches.length) approaches.forEach((a) => add(a.arrivals));
  else if (Object.keys(bin.movements).length) Object.values(bin.movements).forEach(add);
  else Object.values(bin.lines).forEach(add);
  return out;
}

function frame(box, bins, maxY, unit) {
  const W = box.clientWidth || 600, H = box.clientHeight || 220, L = 44, B = 22, T = 8, R = 8;
  const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img" });
  const plotW = W - L - R, plotH = H - T - B;
  const y = (v) => T + plotH - (plotH * v) / maxY;
  for (let i = 0; i <= 4; i++) {
    const v = (maxY * i) / 4;
    root.append(svg("line", { class: "axis", x1: L, x2: W - R, y1: y(v), y2: y(v) }));
    const t = svg("text", { x: L - 6, y: y(v) + 4, "text-anchor": "end" });
    t.textContent = Number.isInteger(v) ? v : v.toFixed(1);
    root.append(t);
  }
  const step = Math.max(1, Math.ceil(bins.length / 8));
  bins.forEach((b, i) => {
    if (i % step) return;
    const t = svg("text", { x: L + (plotW * (i + 0.5)) / bins.length, y: H - 6, "text-anchor": "middle" });
    t.textContent = fmtTime(b.start);
    root.append(t);
  });
  root.setAttribute("aria-label", `chart in ${unit}`);
  return { root, L, plotW, y, T, plotH };
}

function niceMax(v) {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  return [1, 2, 2.5, 5, 10].map((m) => m * p).find((m) => m >= v);
}

function renderCounts(bins) {
  const box = $("counts-chart");
  const totals = bins.map(binTotals);
  const grand = totals.reduce((a, t) => a + sum(t), 0);
  const maxY = niceMax(Math.max(0, ...totals.map(sum)));
  const f = frame(box, bins, maxY, "veh");
  const bw = f.plotW / Math.max(1, bins.length);
  totals.forEach((t, i) => {
    let acc = 0;
    for (const c of CLASSES) {
      const v = t[c] || 0;
      if (!v) continue;
      f.root.append(svg("rect", {
        x: f.L + i * bw + bw * 0.12, width: Math.max(1, bw * 0.76), y: f.y(acc + v), height: f.y(acc) - f.y(acc + v),
        fill: CLASS_COLOURS[c], "data-class": c,
      }));
      acc += v;
    }
  });
  box.replaceChildren(f.root);
  box.dataset.total = grand;
  box.dataset.bins = bins.filter((b) => b.intervals > 0).length;
  const present = CLASSES.filter((c) => totals.some((t) => t[c]));
  $("counts-legend").replaceChildren(...present.map((c) => legendItem(c, CLASS_COLOURS[c])));
}

function renderQueueChart(bins) {
  const box = $("queue-chart");
  const names = [...new Set(bins.flatMap((b) => Object.keys(b.approaches)))].sort();
  const maxY = niceMax(Math.max(0, ...bins.flatMap((b) => Object.values(b.approaches).map((a) => a.queue_veh_mean))));
  const f = frame(box, bins, maxY, "veh");
  const bw = f.plotW / Math.max(1, bins.length);
  names.forEach((name, k) => {
    let d = "";
    let pen = "M";
    bins.forEach((b, i) => {
      const a = b.approaches[name];
      if (!a) { pen = "M"; return; }
      d += `${pen}${(f.L + (i + 0.5) * bw).toFixed(1)},${f.y(a.queue_veh_mean).toFixed(1)} `;
      pen = "L";
    });
    if (d) f.root.append(svg("path", { d, fill: "none", stroke: SERIES_COLOURS[k % SERIES_COLOURS.length], "stroke-width": 2, "data-approach": name }));
  });
  box.replaceChildren(f.root);
  box.dataset.bins = bins.filter((b) => b.intervals > 0).length;
  $("queue-legend").replaceChildren(...names.map((n, k) => legendItem(n, SERIES_COLOURS[k % SERIES_COLOURS.length])));
}

function legendItem(label, colour) {
  const s = el("span", {}, label);
  s.style.setProperty("--swatch", colour);
  return s;
}

// --- refresh loop ----------------------------------------------------------------------------
async function refresh() {
  if (state.busy) return;
  state.busy = true;
  try {
    const sites = await api("/api/sites");
    renderSites(sites);
    if (state.site) {
      const site = encodeURIComponent(state.site);
      const bin = BIN_FOR_WINDOW[state.window];
      const end = (Math.floor(Date.now() / 1000 / bin) + 1) * bin;
      const start = end - state.window;
      const [st, plan, measures] = await Promise.all([
        api(`/api/sites/${site}`),
        api(`/api/sites/${site}/plans/current`),
        api(`/api/sites/${site}/measures?start=${start}&end=${end}&bin_s=${bin}`),
      ]);
      if (st) {
        $("site-panel").hidden = false;
        $("empty-panel").hidden = true;
        renderStatus(st, plan);
        if (measures) { renderCounts(measures.bins); renderQueueChart(measures.bins); }
      }
    }
    $("refresh-state").className = "dot ok";
    $("updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
  } catch (err) {
    $("refresh-state").className = "dot err";
    if (err instanceof AuthError) showLogin(state.token ? "That token was not accepted." : "");
    else $("updated").textContent = `error: ${err.message}`;
  } finally {
    state.busy = false;
  }
}

function start() {
  loadToken();
  $("login-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    state.token = $("token-input").value.trim();
    localStorage.setItem("simpangToken", state.token);
    $("login").hidden = true;
    refresh();
  });
  document.querySelectorAll("[data-window]").forEach((b) => b.addEventListener("click", () => {
    document.querySelectorAll("[data-window]").forEach((x) => x.classList.remove("active"));
    b.classList.add("active");
    state.window = Number(b.dataset.window);
    refresh();
  }));
  refresh();
  state.timer = setInterval(refresh, REFRESH_MS);
}

document.addEventListener("DOMContentLoaded", start);
