// labctl dashboard: draws the lab from the picture once, then applies every pushed frame.
// Text goes in through textContent only: names come from a lab file, never markup.
"use strict";

const STRIP_SECONDS = 60;
const EVENTS_SHOWN = 10;
const view = { picture: null, state: null, run: null, probes: {}, skew: 0, events: [] };

function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

function clock(t) {
  const d = new Date(t * 1000);
  return d.toTimeString().slice(0, 8);
}

function nodeCard(node) {
  const card = el("div", "node");
  card.id = "node-" + node.name;
  card.dataset.node = node.name;
  card.appendChild(el("div", "name", node.name));
  card.appendChild(el("div", "addr", node.address));
  card.appendChild(el("div", "health", ""));
  card.appendChild(el("div", "detail"));
  return card;
}

function drawPicture(p) {
  document.getElementById("lab-name").textContent = "lab " + p.lab;
  document.getElementById("lab-network").textContent = p.network + " · IPVS " + p.scheduler + " :" + p.port;
  document.getElementById("segment-label").textContent = "segment " + p.network + " (" + p.interface + ")";
  for (const role of ["client", "balancer", "real"]) {
    const row = document.getElementById(role === "client" ? "clients" : role + "s");
    row.replaceChildren(...p.nodes.filter((n) => n.role === role).map(nodeCard));
  }
  document.getElementById("legend").textContent =
    "per balancer: VRRP state · priority · VIP held · IPVS per real ActiveConn/InActConn";
  const vips = document.getElementById("vips");
  vips.replaceChildren();
  for (const vip of p.vips) {
    const box = el("div", "vip");
    box.id = "vip-" + vip.name;
    box.dataset.vip = vip.name;
    box.dataset.holder = "";
    const title = el("div", "title");
    title.appendChild(el("span", "vname", vip.name + " " + vip.address));
    title.appendChild(el("span", "holder", "held by ?"));
    box.appendChild(title);
    const order = vip.order.map((b) => b + " " + vip.priorities[b]).join(" › ");
    box.appendChild(el("div", "plan dim", "VRID " + vip.vrid + " · planned " + order));
    const canvas = el("canvas");
    canvas.width = 600;
    canvas.height = 34;
    box.appendChild(canvas);
    box.appendChild(el("div", "strip-label", "probes: none yet (they come from scenario runs)"));
    vips.appendChild(box);
  }
}

function applyState(s) {
  view.state = s;
  const badge = document.getElementById("labstate");
  document.body.classList.remove("waiting", "up", "down");
  if (s.up === true) {
    badge.textContent = "lab is up";
    badge.className = "badge up";
    document.body.classList.add("up");
  } else if (s.up === false) {
    badge.textContent = "lab is down";
    badge.title = s.why || "";
    badge.className = "badge down";
    document.body.classList.add("down");
  } else {
    badge.textContent = "reading the lab…";
    badge.className = "badge";
  }
  const p = view.picture;
  for (const node of p.nodes) {
    const card = document.getElementById("node-" + node.name);
    const ns = s.nodes[node.name];
    const health = card.querySelector(".health");
    const detail = card.querySelector(".detail");
    detail.replaceChildren();
    if (!ns) {
      card.className = "node";
      health.textContent = s.up === false ? "lab is down" : "";
      continue;
    }
    card.className = "node " + (ns.up ? "up" : "down");
    health.textContent = ns.up ? "up" : "DOWN: " + (ns.why || "no answer");
    if (!ns.up) continue;
    if (node.role === "balancer") detail.appendChild(balancerTable(node.name, ns));
    else {
      // Only what systemd knows: "unknown" (no such unit) says nothing to the audience.
      const known = Object.entries(ns.services || {}).filter(([, st]) => st !== "unknown");
      if (known.length) detail.appendChild(el("div", "dim", known.map(([u, st]) => u + " " + st).join(", ")));
    }
  }
  for (const vip of p.vips) {
    const box = document.getElementById("vip-" + vip.name);
    const vs = s.vips[vip.name];
    const holder = box.querySelector(".holder");
    if (!vs) {
      box.className = "vip";
      box.dataset.holder = "";
      holder.textContent = s.up === false ? "lab is down" : "held by ?";
      continue;
    }
    box.dataset.holder = vs.holders.join(" ");
    if (vs.holders.length === 0) holder.textContent = "held by NOBODY";
    else if (vs.holders.length > 1) holder.textContent = "held by " + vs.holders.join(" + ") + " (DUPLICATE)";
    else holder.textContent = "held by " + vs.holders[0];
    box.className = "vip " + (vs.holders.length !== 1 ? "bad" : vs.at_master ? "ok" : "moved");
  }
}

function balancerTable(name, ns) {
  const table = el("table");
  for (const vip of view.picture.vips) {
    const tr = el("tr");
    tr.appendChild(el("td", "", vip.name));
    // A VIP configured on other balancers only has no instance here: nothing to ask about.
    const configured = vip.priorities[name] !== undefined;
    const state = (ns.vrrp && ns.vrrp[vip.name]) || (configured ? "?" : "—");
    tr.appendChild(el("td", "vrrp-" + state, state));
    tr.appendChild(el("td", "dim", configured ? vip.priorities[name] : "not configured"));
    tr.appendChild(el("td", "holds", (ns.held || []).includes(vip.name) ? "● holds" : ""));
    const reals = (ns.ipvs || {})[vip.name];
    const text = reals ? Object.entries(reals).map(([r, c]) => r + " " + c.active + "/" + c.inactive).join(" ") : "";
    tr.appendChild(el("td", "ipvs", text));
    table.appendChild(tr);
  }
  return table;
}

function addProbes(records) {
  for (const [vip, t, ok] of records) {
    (view.probes[vip] = view.probes[vip] || []).push([t, ok]);
  }
}

function drawStrips() {
  if (!view.picture) return;
  const now = Date.now() / 1000 - view.skew;
  for (const vip of view.picture.vips) {
    const box = document.getElementById("vip-" + vip.name);
    const canvas = box.querySelector("canvas");
    const ctx = canvas.getContext("2d");
    const records = (view.probes[vip.name] || []).filter((r) => r[0] >= now - STRIP_SECONDS);
    view.probes[vip.name] = records;
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    const w = canvas.width / STRIP_SECONDS;
    let ok = 0;
    for (const [t, good] of records) {
      const x = (t - (now - STRIP_SECONDS)) * w;
      ctx.fillStyle = good ? "#0a7d2c" : "#c0141c";
      ctx.fillRect(x, good ? 8 : 0, Math.max(w / 4, 3), good ? canvas.height - 16 : canvas.height);
      ok += good ? 1 : 0;
    }
    const label = box.querySelector(".strip-label");
    if (records.length) {
      const out = view.run && view.run.outages ? view.run.outages[vip.name] : null;
      let text = "last " + STRIP_SECONDS + " s: " + ok + " answered, " + (records.length - ok) + " failed";
      if (out && out.current_s !== null) text += " · OUTAGE NOW " + out.current_s.toFixed(1) + " s";
      else if (out && out.longest_s > 0) text += " · longest outage " + out.longest_s.toFixed(2) + " s";
      label.textContent = text;
    }
  }
}

function applyRun(run) {
  view.run = run;
  const body = document.getElementById("run-body");
  body.replaceChildren();
  if (!run) {
    body.textContent = "no scenario run yet";
    return;
  }
  body.className = "";
  const head = (run.scenario || "?") + " · " + run.name + (run.finished ? " · finished" : " · running");
  body.appendChild(el("div", "", head));
  if (run.step) body.appendChild(el("div", "step", run.step));
  if (run.countdown_s !== null && run.countdown_s !== undefined) {
    body.appendChild(el("div", "countdown", "wait " + run.countdown_s.toFixed(1) + " s"));
  }
  if (run.narration) body.appendChild(el("div", "narration", run.narration));
  if (run.condition) body.appendChild(el("div", "dim", run.condition));
  if (run.error) body.appendChild(el("div", "bad", "error: " + run.error));
  for (const [vip, m] of Object.entries(run.measured || {})) {
    if (m.outage_s === null && m.moved_after_s === null) continue;
    const parts = [vip];
    if (m.outage_s !== null) parts.push("outage " + Number(m.outage_s).toFixed(2) + " s");
    if (m.moved_after_s !== null) parts.push("moved after " + Number(m.moved_after_s).toFixed(2) + " s to " + m.new_holder);
    if (m.theory_s !== null) parts.push("theory " + Number(m.theory_s).toFixed(2) + " s");
    body.appendChild(el("div", "measured", parts.join(" · ")));
  }
  if (run.verdict) body.appendChild(el("div", "verdict", "verdict: " + run.verdict.toUpperCase()));
  if (run.report) {
    const link = el("a", "", "open the report");
    link.href = run.report + location.search;
    link.target = "_blank";
    link.id = "report-link";
    body.appendChild(link);
  }
}

function addEvents(events) {
  view.events = view.events.concat(events).slice(-EVENTS_SHOWN);
  const list = document.getElementById("events");
  list.replaceChildren(
    ...view.events
      .slice()
      .reverse()
      .map((e) => {
        const li = el("li", e.level);
        li.dataset.kind = e.kind;
        li.appendChild(el("span", "time", clock(e.t)));
        li.appendChild(el("span", e.level, e.text));
        return li;
      }),
  );
}

function onFrame(frame) {
  view.skew = Date.now() / 1000 - frame.now;
  if (frame.type === "hello") {
    view.picture = frame.picture;
    view.probes = {};
    view.events = [];
    drawPicture(frame.picture);
  }
  addProbes(frame.probes || []);
  applyState(frame.state);
  applyRun(frame.run);
  if (frame.events && frame.events.length) addEvents(frame.events);
  drawStrips();
}

function connect() {
  const source = new EventSource("events" + location.search);
  source.onmessage = (message) => onFrame(JSON.parse(message.data));
  source.onerror = () => {
    const badge = document.getElementById("labstate");
    badge.textContent = "dashboard unreachable";
    badge.className = "badge down";
  };
}

setInterval(() => {
  document.getElementById("clock").textContent = clock(Date.now() / 1000);
  drawStrips();
}, 250);
connect();
