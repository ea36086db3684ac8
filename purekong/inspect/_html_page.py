"""The HTML page of ``purekong inspect --html``: markup, style and script in one string.

``__TITLE__`` and ``__DATA__`` (the JSON view model of ``_html.page_data``)
are filled in by ``_html.render_html``. Everything the page needs is here:
it loads nothing from anywhere.
"""

PAGE = r"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<title>purekong inspect: __TITLE__</title>
<style>
:root { --ink:#1f2430; --muted:#6b7385; --line:#d9dde5; --bg:#f6f7f9; --card:#fff;
  --plain:#8a93a6; --hs:#d9912b; --app:#2f9e6a; --app2:#1f8fa8; --bad:#d64545; --sel:#fff3c4; --c2s:#3b6fd8; --s2c:#8b4fd0; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color:var(--ink); background:var(--bg); }
header { background:#1f2430; color:#fff; padding:14px 24px; }
header h1 { margin:0; font-size:19px; font-weight:600; }
header .sub { color:#c5cad6; font-size:13px; margin-top:3px; }
header .sub b { color:#fff; font-weight:600; }
nav { display:flex; gap:4px; padding:0 24px; background:#2a3040; }
nav a { color:#c5cad6; text-decoration:none; padding:8px 12px; font-size:13px; }
nav a:hover { color:#fff; background:#343b4e; }
main { padding:18px 24px; }
.top { display:grid; grid-template-columns: minmax(520px, 640px) minmax(380px, 1fr); gap:18px; align-items:start; }
.card { background:var(--card); border:1px solid var(--line); border-radius:8px; padding:14px 16px; }
h2 { font-size:15px; margin:0 0 10px; }
section { margin-top:18px; }
.ends { display:grid; grid-template-columns: 122px 1fr 64px; font-weight:600; font-size:13px; color:var(--muted); padding:0 0 6px; border-bottom:1px solid var(--line); }
.ends .c { color:var(--c2s); } .ends .s { color:var(--s2c); text-align:right; }
.ends div:nth-child(2) { display:flex; justify-content:space-between; }
.rec { display:grid; grid-template-columns: 122px 1fr 64px; border-bottom:1px dashed #eceef2; padding:3px 0; }
.rec .meta.click { cursor:pointer; } .rec .meta.click:hover .num, .rec .meta.on .num { background:var(--sel); border-radius:4px; }
.rec .meta { font-size:12px; color:var(--muted); display:flex; gap:6px; align-items:flex-start; padding-top:4px; }
.rec .num { width:22px; text-align:right; font-variant-numeric:tabular-nums; }
.epoch { font-size:10.5px; padding:1px 6px; border-radius:9px; color:#fff; background:var(--plain); white-space:nowrap; }
.epoch.handshake { background:var(--hs); } .epoch.application { background:var(--app); }
.epoch.app-n { background:var(--app2); } .epoch.unknown { background:var(--bad); } .epoch.early { background:#b04fa8; }
.rec .size { font-size:12px; color:var(--muted); text-align:right; padding-top:4px; font-variant-numeric:tabular-nums; }
.items { border-left:3px solid transparent; padding-left:4px; position:relative;
  background: linear-gradient(var(--c2s), var(--c2s)) 6px 0 / 2px 100% no-repeat, linear-gradient(var(--s2c), var(--s2c)) calc(100% - 6px) 0 / 2px 100% no-repeat; }
.items.group { border-left-color:#c9cfdb; }
.row { position:relative; height:30px; cursor:default; }
.fold { padding:6px 0 6px 130px; color:var(--muted); font-size:12.5px; cursor:pointer; border-bottom:1px dashed #eceef2; }
.fold:hover { color:var(--ink); background:var(--sel); }
.row .ln { position:absolute; top:21px; left:8px; right:8px; border-top:2px solid var(--c2s); }
.row.s2c .ln { border-top-color:var(--s2c); }
.row .ln::after { content:""; position:absolute; top:-7px; border:6px solid transparent; }
.row.c2s .ln::after { right:-8px; border-left:9px solid var(--c2s); }
.row.s2c .ln::after { left:-8px; border-right:9px solid var(--s2c); }
.row .lb { position:absolute; top:1px; padding:0 4px; font-size:13px; white-space:nowrap; }
.row.c2s .lb { left:12px; } .row.s2c .lb { right:14px; }
.row.hs { cursor:pointer; } .row.hs .lb { font-weight:600; }
.row.hs:hover .lb, .row.on .lb { background:var(--sel); border-radius:4px; }
.row.ccs .lb { color:#4d7d99; } .row.data .lb { color:var(--app); } .row.alert .lb, .row.bad .lb { color:var(--bad); font-weight:600; }
.row.more .lb { color:var(--muted); font-style:italic; }
#panel { position:sticky; top:12px; max-height:calc(100vh - 24px); overflow:auto; }
#panel .hint { color:var(--muted); }
.kv { font-size:12.5px; color:var(--muted); margin-bottom:8px; }
.fbox { position:relative; max-height:46vh; overflow:auto; border:1px solid var(--line); border-radius:6px; }
table.fields { border-collapse:collapse; width:100%; font-size:12.5px; }
table.fields td { padding:2px 6px; border-bottom:1px solid #f0f1f4; vertical-align:top; }
table.fields td.o { color:var(--muted); text-align:right; font-variant-numeric:tabular-nums; width:44px; }
table.fields td.n { white-space:nowrap; font-family:ui-monospace, SFMono-Regular, Menlo, monospace; }
table.fields td.v { word-break:break-all; }
table.fields td.r { color:var(--muted); white-space:nowrap; font-size:11px; }
table.fields tr:hover td, table.fields tr.hot td { background:var(--sel); }
.hex { position:relative; max-height:34vh; overflow:auto; font-family:ui-monospace, SFMono-Regular, Menlo, monospace; font-size:12px; line-height:1.6; margin-top:10px; background:#fafbfc; border:1px solid var(--line); border-radius:6px; padding:8px; }
.hex .l { white-space:nowrap; } .hex .off { color:var(--muted); margin-right:10px; }
.hex span.b { padding:0 1px; border-radius:2px; }
.hex span.b.hi { background:#ffd86b; }
.keys .k { border:1px solid var(--line); border-radius:6px; padding:8px 10px; margin:6px 0; background:#fcfcfd; }
.keys .k:target { outline:2px solid var(--hs); }
.keys .k .nm { font-weight:600; font-family:ui-monospace, monospace; }
.keys .fn { color:var(--hs); font-family:ui-monospace, monospace; }
.keys .rfc { color:var(--muted); font-size:11.5px; margin-left:10px; }
.keys .k { padding:5px 10px; margin:4px 0; }
.mono { font-family:ui-monospace, SFMono-Regular, Menlo, monospace; font-size:12px; word-break:break-all; }
.keys a { color:var(--c2s); font-family:ui-monospace, monospace; }
table.grid { border-collapse:collapse; width:100%; font-size:12.5px; }
table.grid th { text-align:left; color:var(--muted); font-weight:600; border-bottom:1px solid var(--line); padding:4px 6px; }
table.grid td { border-bottom:1px solid #f0f1f4; padding:4px 6px; vertical-align:top; }
.dir-c2s { color:var(--c2s); font-weight:600; } .dir-s2c { color:var(--s2c); font-weight:600; }
.decision { padding:6px 0; border-bottom:1px solid #f0f1f4; }
.decision .w { font-weight:600; }
.decision.failed { background:#fdecec; border-radius:6px; padding:6px 8px; color:#8a1f1f; } .decision .why { color:var(--muted); font-size:12.5px; white-space:pre-wrap; }
.finding { padding:6px 10px; border-radius:6px; margin:4px 0; background:#fdecec; color:#8a1f1f; }
.finding.warning { background:#fff5dc; color:#7a5a00; }
.ok { color:var(--app); }
.legend { display:flex; gap:8px; margin-top:10px; font-size:12px; color:var(--muted); align-items:center; flex-wrap:wrap; }
</style>
</head>
<body>
<header><h1 id="title"></h1><div class="sub" id="sub"></div></header>
<nav><a href="#ladder">Ladder</a><a href="#keys">Key schedule</a><a href="#data">Decrypted records</a><a href="#why">Decisions</a><a href="#findings">Findings</a></nav>
<main>
<div class="top">
  <div class="card" id="ladder"><h2>The connection, record by record</h2><div class="ends"><div>record</div><div><span class="c">client</span><span class="s">server</span></div><div></div></div><div id="rows"></div>
    <div class="legend">epochs: <span class="epoch">plaintext</span><span class="epoch handshake">handshake</span><span class="epoch application">application</span><span class="epoch app-n">after KeyUpdate</span><span class="epoch unknown">not decrypted</span></div></div>
  <div class="card" id="panel"><h2 id="ptitle">Select a message</h2><div id="pbody" class="hint">Click a message in the ladder to see its fields, or a record number for the record; hover a field to see its bytes.</div></div>
</div>
<section class="card keys" id="keys"><h2>Key schedule</h2><div id="kbody"></div></section>
<section class="card" id="data"><h2>Decrypted records</h2><div id="dbody"></div></section>
<section class="card" id="why"><h2>Decisions and the certificate phase</h2><div id="wbody"></div></section>
<section class="card" id="findings"><h2>Findings</h2><div id="fbody"></div></section>
</main>
<script type="application/json" id="recording">__DATA__</script>
<script>
"use strict";
const D = JSON.parse(document.getElementById("recording").textContent);
const $ = (id) => document.getElementById(id);
function el(tag, cls, text) { const e = document.createElement(tag); if (cls) e.className = cls; if (text !== undefined && text !== null) e.textContent = text; return e; }
function epochClass(e) { return e === "plaintext" ? "" : e.startsWith("application_") ? "app-n" : e; }

$("title").textContent = "purekong inspect: " + D.title;
$("sub").append(el("b", "", D.summary), "  \u00b7  " + D.client + "  \u2194  " + D.server);

let selected = null;
function isData(r) { return r.items.length === 1 && r.items[0].kind === "data"; }

function recordRow(r) {
  const rec = el("div", "rec"); rec.dataset.record = r.i;
  const meta = el("div", "meta"); meta.append(el("span", "num", "#" + r.i), el("span", "epoch " + epochClass(r.epoch), r.epoch));
  if (r.fields) { meta.classList.add("click"); meta.title = "click for the record: header, keys, nonce, tag"; meta.addEventListener("click", () => selectRecord(r, meta)); }
  const items = el("div", "items" + (r.items.length > 1 ? " group" : ""));
  for (const it of r.items) {
    const row = el("div", "row " + r.dir + " " + it.kind);
    row.append(el("div", "ln"), el("div", "lb", it.text));
    if (it.kind === "hs") { row.dataset.msg = it.msg; row.title = "click for the fields"; row.addEventListener("click", () => select(it.msg, row)); }
    items.append(row);
  }
  rec.append(meta, items, el("div", "size", r.size + " B" + (r.truncated ? " cut" : "")));
  return rec;
}

// A long run of application data one way (a bulk transfer) folds into one
// line between its first and last record; a click unfolds it.
const FOLD = 6;
function ladder() {
  const rows = $("rows"), R = D.records;
  for (let i = 0; i < R.length;) {
    let j = i + 1;
    while (isData(R[i]) && j < R.length && isData(R[j]) && R[j].dir === R[i].dir && R[j].epoch === R[i].epoch) j++;
    if (j - i < FOLD) { for (; i < j; i++) rows.append(recordRow(R[i])); continue; }
    rows.append(recordRow(R[i]));
    const hidden = R.slice(i + 1, j - 1), box = el("div", "folded"), bytes = hidden.reduce((n, r) => n + r.size, 0);
    const fold = el("div", "fold", "\u2026 " + hidden.length + " more records of application data (" + bytes.toLocaleString("en-US") + " B): show");
    fold.addEventListener("click", () => { if (!box.children.length) hidden.forEach(r => box.append(recordRow(r))); fold.remove(); });
    rows.append(fold, box, recordRow(R[j - 1]));
    i = j;
  }
}

function selectRecord(r, meta) {
  if (selected) selected.classList.remove("on");
  selected = meta; meta.classList.add("on");
  $("ptitle").textContent = "Record #" + r.i;
  const body = $("pbody"); body.className = ""; body.textContent = "";
  body.append(el("div", "kv", (r.dir === "c2s" ? "client \u2192 server" : "server \u2192 client") + " \u00b7 " + r.size + " bytes \u00b7 " + r.epoch + " epoch"));
  if (r.dec) {
    const d = r.dec, t = el("table", "fields");
    [["opened with", d.key || "?"], ["sequence number", d.seq], ["nonce", d.nonce], ["additional data", d.aad], ["tag", d.tag],
     ["inner content type", d.inner], ["padding", d.padding + " bytes"], ["plaintext", d.plaintext]].forEach(([k, v]) => {
      const tr = el("tr"); tr.append(el("td", "n", k), el("td", "v", String(v))); t.append(tr); });
    const box = el("div", "fbox"); box.style.marginBottom = "8px"; box.append(t); body.append(box);
  }
  body.append(fieldTable(r), hexView(r));
}

function fieldTable(m) {
  const table = el("table", "fields");
  m.fields.forEach((f, j) => {
    const tr = el("tr"); tr.dataset.field = j;
    const name = el("td", "n"); name.style.paddingLeft = (6 + 14 * f.d) + "px"; name.textContent = f.n;
    tr.append(el("td", "o", f.o), name, el("td", "v", f.v), el("td", "r", f.rfc));
    tr.addEventListener("mouseenter", () => highlight(f.o, f.l, true));
    tr.addEventListener("mouseleave", () => highlight(f.o, f.l, false));
    table.append(tr);
  });
  const box = el("div", "fbox"); box.append(table);
  return box;
}

function select(i, row) {
  const m = D.messages[i];
  if (selected) selected.classList.remove("on");
  selected = row; if (row) row.classList.add("on");
  $("ptitle").textContent = m.title;
  const body = $("pbody"); body.className = ""; body.textContent = "";
  body.append(el("div", "kv", (m.dir === "c2s" ? "client \u2192 server" : "server \u2192 client") + " \u00b7 " + m.size + " bytes \u00b7 record " + m.records.map(x => "#" + x).join(", ") + " \u00b7 " + m.epoch + " epoch"));
  body.append(fieldTable(m), hexView(m));
}

// Deep links: #m=3&f=12 opens message 3 with its field 12 highlighted; #r=7 opens record 7.
function fromHash() {
  const p = new URLSearchParams(location.hash.slice(1));
  const rec = D.records.find(x => String(x.i) === p.get("r"));
  if (rec && rec.fields) { selectRecord(rec, document.querySelector('.rec[data-record="' + rec.i + '"] .meta')); return true; }
  const m = Number(p.get("m")), f = p.get("f");
  if (!p.has("m") || !D.messages[m]) return false;
  select(m, document.querySelector('.row.hs[data-msg="' + m + '"]'));
  const field = D.messages[m].fields[Number(f)];
  if (f !== null && field) {
    const tr = document.querySelector('tr[data-field="' + f + '"]');
    tr.classList.add("hot"); highlight(field.o, field.l, true);
    const box = tr.closest(".fbox"); box.scrollTop = tr.offsetTop - box.clientHeight / 2;
    const hex = $("hex"), hot = document.querySelector("#hex span.b.hi");
    if (hot) hex.scrollTop = hot.offsetTop - hex.offsetTop - 20;
  }
  return true;
}

function hexView(m) {
  const box = el("div", "hex"); box.id = "hex";
  const n = m.hex.length / 2;
  for (let line = 0; line < n; line += 16) {
    const l = el("div", "l"); l.append(el("span", "off", line.toString(16).padStart(4, "0")));
    for (let i = line; i < Math.min(line + 16, n); i++) {
      const b = el("span", "b", m.hex.substr(2 * i, 2)); b.dataset.o = i; l.append(b, " ");
    }
    box.append(l);
  }
  if (m.cut) box.append(el("div", "off", "\u2026 " + m.cut + " more bytes not shown"));
  return box;
}

function highlight(offset, length, on) {
  const bytes = document.querySelectorAll("#hex span.b");
  for (let i = offset; i < Math.min(offset + length, bytes.length); i++) bytes[i].classList.toggle("hi", on);
}

function keys() {
  const box = $("kbody");
  if (D.keys.length) {
    for (const k of D.keys) {
      const c = el("div", "k"); c.id = "key-" + k.name.toLowerCase(); c.style.marginLeft = (22 * Math.min(k.depth, 8)) + "px";
      const head = el("div"); head.append(el("span", "nm", k.name), " = ", el("span", "fn", k.function + (k.label ? '("' + k.label + '")' : "")));
      if (k.rfc) head.append(el("span", "rfc", k.rfc));
      c.append(head);
      if (k.inputs.length) {
        const from = el("div"); from.append("from ");
        k.inputs.forEach((name, j) => { const a = el("a", "", name); a.href = "#key-" + name.toLowerCase(); if (j) from.append(", "); from.append(a); });
        c.append(from);
      }
      if (k.context) c.append(el("div", "mono", "context: " + k.context + (k.ctx ? "  (" + k.ctx + ")" : "")));
      c.append(el("div", "mono", "output: " + k.output));
      box.append(c);
    }
  } else {
    box.append(el("p", "hint", "The key schedule was not recomputed for this recording; the secrets reported are below."));
  }
  const t = el("table", "grid"); const h = el("tr"); ["secret", "value", "reported by"].forEach(x => h.append(el("th", "", x))); t.append(h);
  for (const s of D.secrets) { const tr = el("tr"); tr.id = "key-" + s.label.toLowerCase(); tr.append(el("td", "mono", s.label), el("td", "mono", s.value), el("td", "", s.sources.join(", "))); t.append(tr); }
  box.append(t);
}

function data() {
  const box = $("dbody");
  if (!D.data.rows.length) { box.append(el("p", "hint", "No application data was decrypted.")); }
  else {
    const t = el("table", "grid"); const h = el("tr");
    ["#", "from", "epoch", "seq", "bytes", "nonce / tag", "plaintext (first and last bytes)"].forEach(x => h.append(el("th", "", x))); t.append(h);
    for (const r of D.data.rows) {
      const tr = el("tr");
      tr.append(el("td", "", r.i), el("td", "dir-" + r.dir, r.dir === "c2s" ? "client" : "server"), el("td", "", r.epoch), el("td", "", r.seq),
                el("td", "", r.len), el("td", "mono", r.nonce + " / " + r.tag), el("td", "mono", r.preview));
      t.append(tr);
    }
    box.append(t);
  }
  if (D.data.hidden) box.append(el("p", "hint", "\u2026 and " + D.data.hidden + " more records (" + D.data.hidden_bytes + " bytes), summarised."));
}

function why() {
  const box = $("wbody");
  for (const d of D.decisions) {
    const c = el("div", "decision" + (d.what === "failed_check" || (d.what === "alert" && d.value.includes("fatal")) ? " failed" : ""));
    const w = el("div"); w.append(el("span", "dir-" + (d.side === "client" ? "c2s" : "s2c"), d.side + " "), el("span", "w", d.what + ": "), d.value);
    c.append(w); if (d.reason) c.append(el("div", "why", d.reason)); box.append(c);
  }
  const p = D.phase;
  if (p) {
    const c = el("div", "decision"); c.append(el("div", "w", "Certificate phase: what the server application chose at proceed()"));
    const lines = ["server name seen: " + (p.server_name || "(none)"), "certificate chain: " + p.chain + " certificate(s)",
      "request client certificate: " + (p.request ? "yes" : "no")].concat(p.cas.map(x => "  CA DN: " + x),
      ["session reuse: " + (p.reuse ? "allowed" : "disabled (disable_session_reuse)")], p.alpn.length ? ["ALPN offered: " + p.alpn.join(", ")] : []);
    c.append(el("div", "why", lines.join("\n"))); box.append(c);
  }
  for (const a of D.alerts) {
    const c = el("div", "decision"); const w = el("div");
    w.append(el("span", "dir-" + a.dir, (a.dir === "c2s" ? "client" : "server") + " "), el("span", "w", "sent alert " + a.name + (a.fatal ? " (fatal)" : " (warning)")));
    c.append(w); if (a.reason) c.append(el("div", "why", a.reason + (a.rfc ? " (" + a.rfc + ")" : ""))); box.append(c);
  }
  if (!box.children.length) box.append(el("p", "hint", "No decisions recorded."));
}

function findings() {
  const box = $("fbody");
  for (const f of D.findings) box.append(el("div", "finding " + f.severity, f.kind + ": " + f.message + (f.subject ? "  [" + f.subject + "]" : "")));
  if (!D.findings.length) box.append(el("p", "ok", "None: every record opened and every value the engine reported matches the inspector's."));
}

ladder(); keys(); data(); why(); findings();
const first = document.querySelector(".row.hs");
if (!fromHash() && first) select(Number(first.dataset.msg), first);
window.addEventListener("hashchange", fromHash);
document.body.dataset.ready = "1";
</script>
</body>
</html>
"""
