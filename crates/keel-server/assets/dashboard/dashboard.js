// Keel's dashboard: signs in with a token (kept in this tab's sessionStorage), reads the snapshot stream
// /v1/dashboard/stream with the token in the Authorization header (never in a URL), and renders each
// snapshot: the server's figures, and per database its figures, meters, two live charts (uPlot), clients
// grouped by address and name, and the slow log. Everything a client or tenant named (database names,
// client names, commands) is written as text, never as HTML.
"use strict";

const TOKEN_KEY = "keel-dashboard-token";
const POINTS = 300; // five minutes at one snapshot a second
const databases = new Map(); // name -> { section, charts, series }
let stream = null; // the AbortController of the open stream

const $ = (selector, root = document) => root.querySelector(selector);

function signIn(token) {
  sessionStorage.setItem(TOKEN_KEY, token);
  $("#sign-in").hidden = true;
  $("#sign-out").hidden = false;
  connect(token, 0);
}

function signOut(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  if (stream) stream.abort();
  stream = null;
  for (const db of databases.values()) db.section.remove();
  databases.clear();
  $("#server").hidden = true;
  $("#sign-in").hidden = false;
  $("#sign-out").hidden = true;
  $("#sign-in-error").textContent = message || "";
  setStatus("signed out", "");
}

function setStatus(text, kind) {
  const badge = $("#status");
  badge.textContent = text;
  badge.className = "badge " + kind;
}

// Reads the stream until it ends; reconnects after a pause unless the token was refused.
async function connect(token, failures) {
  const controller = new AbortController();
  stream = controller;
  try {
    const response = await fetch("/v1/dashboard/stream", {
      headers: { Authorization: "Bearer " + token },
      cache: "no-store",
      signal: controller.signal,
    });
    if (response.status === 401) return signOut("That token was not accepted.");
    if (!response.ok) throw new Error("HTTP " + response.status);
    setStatus("live", "ok");
    failures = 0;
    await readEvents(response.body, (data) => render(JSON.parse(data)));
  } catch (error) {
    if (controller.signal.aborted) return;
  }
  if (stream !== controller) return;
  setStatus("reconnecting", "warn");
  setTimeout(() => connect(token, failures + 1), Math.min(1000 * 2 ** failures, 10000));
}

// Server-Sent Events from a fetch body: events end with a blank line, their data in `data:` lines.
async function readEvents(body, onData) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = block.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trimStart());
      if (data.length) onData(data.join("\n"));
    }
  }
}

// --- formatting ---
function bytes(n) {
  if (n == null) return "–";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : n) + " " + units[i];
}
const number = (n, digits = 0) => (n == null ? "–" : Number(n).toLocaleString("en", { maximumFractionDigits: digits }));
const percent = (r) => (r == null ? "–" : (r * 100).toFixed(1) + "%");
const micros = (us) => (us == null ? "–" : us >= 1e9 ? "> 1 s" : us >= 1000 ? (us / 1000).toFixed(1) + " ms" : us + " µs");
function duration(s) {
  if (s == null) return "–";
  if (s < 120) return s + " s";
  if (s < 7200) return Math.round(s / 60) + " min";
  if (s < 172800) return Math.round(s / 3600) + " h";
  return Math.round(s / 86400) + " d";
}

// A grid of labelled figures, rewritten in place.
function figures(container, items) {
  if (container.children.length !== items.length) {
    container.replaceChildren(...items.map(() => {
      const figure = document.createElement("div");
      figure.className = "figure";
      figure.append(document.createElement("div"), document.createElement("div"));
      figure.firstChild.className = "value";
      figure.lastChild.className = "label";
      return figure;
    }));
  }
  items.forEach(([label, value], i) => {
    const figure = container.children[i];
    figure.firstChild.textContent = value;
    figure.lastChild.textContent = label;
    figure.dataset.figure = label;
  });
}

function meter(element, used, max, warnAt, format) {
  const bar = $(".bar", element);
  const share = max ? used / max : 0;
  $("i", bar).style.width = Math.min(100, share * 100) + "%";
  bar.className = "bar" + (share >= 1 ? " bad" : share >= warnAt ? " warn" : "");
  $(".mark", bar).hidden = !max;
  $(".text", element).textContent = max ? `${format(used)} of ${format(max)}` : format(used) + " (no limit)";
}

function rows(tbody, items, cells) {
  tbody.replaceChildren(...items.map((item) => {
    const tr = document.createElement("tr");
    for (const [text, className] of cells(item)) {
      const td = document.createElement("td");
      td.textContent = text;
      if (className) td.className = className;
      tr.append(td);
    }
    return tr;
  }));
}

// --- rendering ---
function render(snapshot) {
  if (snapshot.server) renderServer(snapshot.server);
  const seen = new Set();
  for (const db of snapshot.databases) {
    seen.add(db.name);
    renderDatabase(db, snapshot.at_ms / 1000);
  }
  for (const [name, db] of databases) {
    if (!seen.has(name)) { db.section.remove(); databases.delete(name); }
  }
  document.body.dataset.updates = Number(document.body.dataset.updates) + 1;
}

function renderServer(s) {
  $("#server").hidden = false;
  $("#version").textContent = "v" + s.version + " · " + s.role;
  const ready = s.status === "ready";
  setStatus(ready ? "live · ready" : "live · " + s.status + (s.failing.length ? " (" + s.failing.join(", ") + ")" : ""), ready ? "ok" : "bad");
  figures($("#server-figures"), [
    ["uptime", duration(s.uptime_s)],
    ["commands/s", number(s.ops_per_sec, 1)],
    ["connections", `${number(s.connections)} of ${number(s.maxclients)}`],
    ["dataset memory", bytes(s.used_memory)],
    ["process memory (RSS)", bytes(s.rss_bytes)],
    ["maxmemory", s.maxmemory ? bytes(s.maxmemory) : "no limit"],
    ["loading", s.loading ? "yes" : "no"],
    ["cluster", s.cluster ? s.cluster.node + (s.cluster.problem ? " · " + s.cluster.problem : " · etcd ok") : "not clustered"],
  ]);
}

function renderDatabase(db, now) {
  let entry = databases.get(db.name);
  if (!entry) entry = addDatabase(db);
  const { section } = entry;
  const r = db.rates["1s"], minute = db.rates["1m"];
  $(".role", section).textContent = db.replication.role;
  const p = db.persistence;
  figures($(".figures", section), [
    ["commands/s", number(r.commands_per_sec, 1)],
    ["commands/s (1 min)", number(minute.commands_per_sec, 1)],
    ["hit rate (1 min)", percent(minute.hit_rate)],
    ["latency p50", micros(db.latency_us.p50)],
    ["latency p99", micros(db.latency_us.p99)],
    ["keys", number(db.keys)],
    ["evictions/s", number(r.evicted_per_sec, 1)],
    ["in", bytes(r.bytes_in_per_sec) + "/s"],
    ["out", bytes(r.bytes_out_per_sec) + "/s"],
    ["cost today", "$" + number(db.cost_today_usd, 4)],
    ["persistence", (p.appendonly ? "AOF" : "snapshots") + (p.writable ? "" : " · NOT WRITABLE")],
    ["last snapshot", p.last_snapshot_unix ? duration(Math.max(0, Math.round(now - p.last_snapshot_unix))) + " ago" + (p.last_snapshot_ok ? "" : " · FAILED") : "never"],
    ["replicas", db.replication.role === "primary" ? number(db.replication.replicas) : db.replication.link_up ? "link up" : "link down"],
    ["refused: logins at cap", number(db.refused.logins)],
    ["refused: rate limit", number(db.refused.rate_limited)],
    ["refused: over quota", number(db.refused.over_quota)],
  ]);
  meter($(".meter.memory", section), db.memory.used, db.memory.max, 0.9, bytes);
  meter($(".meter.connections", section), db.connections.current, db.connections.max, 0.75, number);
  push(entry, now, r.commands_per_sec, db.connections.current, db.connections.max);
  rows($(".clients tbody", section), db.clients, (g) => [
    [g.addr], [g.name || "(no name)"], [number(g.connections), "num"], [duration(g.oldest_age_s), "num"], [duration(g.max_idle_s), "num"],
  ]);
  if (db.slowlog) {
    rows($(".slowlog tbody", section), db.slowlog, (e) => [
      [String(e.id), "num"], [new Date(e.time_unix * 1000).toLocaleTimeString()], [micros(e.duration_us), "num"], [e.command, "command"], [e.client_name || e.client_addr],
    ]);
  }
}

function addDatabase(db) {
  const section = $("#database-template").content.firstElementChild.cloneNode(true);
  section.dataset.database = db.name;
  $(".name", section).textContent = db.name;
  $("#databases").append(section);
  const series = { time: [], ops: [], conns: [], warn: [] };
  for (const [at, ops] of db.history || []) {
    series.time.push(at); series.ops.push(ops); series.conns.push(null); series.warn.push(null);
  }
  const charts = {
    ops: chart($(".chart.ops", section), [{ label: "commands/s", stroke: "#2563eb", fill: "rgba(37,99,235,.12)" }], [series.time, series.ops]),
    conns: chart($(".chart.conns", section), [
      { label: "connections", stroke: "#16a34a" },
      { label: "75% of cap", stroke: "#d97706", dash: [6, 4] },
    ], [series.time, series.conns, series.warn]),
  };
  const entry = { section, charts, series };
  databases.set(db.name, entry);
  return entry;
}

function chart(figure, series, data) {
  const width = () => Math.max(240, figure.clientWidth || 480);
  const plot = new uPlot({
    width: width(), height: 170,
    series: [{}, ...series.map((s) => ({ width: 1.5, points: { show: false }, ...s }))],
    axes: [{ stroke: "#888" }, { stroke: "#888", size: 55 }],
    scales: { y: { range: (u, min, max) => [0, Math.max(1, max * 1.1)] } },
    legend: { show: true },
  }, data, figure);
  new ResizeObserver(() => plot.setSize({ width: width(), height: 170 })).observe(figure);
  return plot;
}

function push(entry, now, ops, conns, cap) {
  const s = entry.series;
  s.time.push(now); s.ops.push(ops); s.conns.push(conns); s.warn.push(cap ? cap * 0.75 : null);
  if (s.time.length > POINTS) for (const list of Object.values(s)) list.shift();
  entry.charts.ops.setData([s.time, s.ops]);
  entry.charts.conns.setData([s.time, s.conns, s.warn]);
}

document.addEventListener("DOMContentLoaded", () => {
  $("#sign-in").addEventListener("submit", (event) => {
    event.preventDefault();
    signIn($("#token").value.trim());
    $("#token").value = "";
  });
  $("#sign-out").addEventListener("click", () => signOut());
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) signIn(token);
});
