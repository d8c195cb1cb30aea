// The side-by-side page: renders the samples from the JSON block, sorts and filters them.
// Runs from a file:// URL, with no server and nothing loaded from elsewhere.
"use strict";

const DATA = JSON.parse(document.getElementById("view-data").textContent);
const PAGE = 40;
const view = {shown: PAGE};

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v;
    else node.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c);
  return node;
}

function fmt(name, value, exact) {
  if (value === null || value === undefined || Number.isNaN(value)) return "–";
  if (name === "keep_psnr") return exact ? "exact" : `${value.toFixed(2)} dB`;
  if (name === "keep_ssim") return value.toFixed(4);
  if (name === "keep_mae" || name === "edit_change") return value === 0 ? "0" : value.toPrecision(4);
  if (name.startsWith("keep_")) return value.toFixed(3);
  return Number.isInteger(value) ? String(value) : value.toFixed(2);
}

// The value a folder has for a metric or judge score; exact PSNR counts as +Infinity.
function valueOf(sample, label, name) {
  const cell = sample.results[label];
  if (!cell || cell.status !== "ok") return null;
  if (name === "keep_psnr" && cell.exact) return Infinity;
  if (cell.metrics && cell.metrics[name] !== undefined && cell.metrics[name] !== null) return cell.metrics[name];
  if (cell.judge && cell.judge[name] !== undefined && cell.judge[name] !== null) return cell.judge[name];
  return null;
}

// A minus B, signed so that a positive gap means A is better.
function gapOf(sample, a, b, name) {
  const va = valueOf(sample, a, name), vb = valueOf(sample, b, name);
  if (va === null || vb === null) return null;
  if (va === vb) return 0;
  const d = (va - vb) * (DATA.better[name] || 1);
  return Number.isNaN(d) ? 0 : d;
}

function select(id, label, options, value) {
  const s = el("select", {id});
  for (const [v, text] of options) s.append(el("option", {value: v}, text));
  if (value !== undefined) s.value = value;
  s.addEventListener("change", () => { view.shown = PAGE; render(); });
  return el("label", {}, label + " ", s);
}

function buildControls() {
  const categories = [...new Set(DATA.samples.map((s) => s.category))].sort();
  const labels = DATA.labels.map((l) => [l, l]);
  const metrics = DATA.sortable.map((m) => [m, DATA.titles[m] || m]);
  const search = el("input", {id: "search", type: "search", placeholder: "key or instruction"});
  search.addEventListener("input", () => { view.shown = PAGE; render(); });
  const minGap = el("input", {id: "min-gap", type: "number", step: "any", min: "0", placeholder: "0"});
  minGap.addEventListener("input", () => { view.shown = PAGE; render(); });
  document.getElementById("controls").append(
    select("category", "Category", [["", "all"], ...categories.map((c) => [c, c])]),
    el("label", {}, "Search ", search),
    select("sort", "Sort by", [["order", "benchmark order"], ["value", "metric of folder A"],
                               ["gap", "gap A − B (A better first)"], ["absgap", "|gap A − B|"]]),
    select("metric", "metric", metrics),
    select("folder-a", "A", labels, DATA.labels[0]),
    select("folder-b", "B", labels, DATA.labels[Math.min(1, DATA.labels.length - 1)]),
    select("direction", "order", [["desc", "largest first"], ["asc", "smallest first"]]),
    el("label", {}, "|gap| at least ", minGap),
  );
}

function current() {
  const get = (id) => document.getElementById(id).value;
  return {category: get("category"), search: get("search").trim().toLowerCase(), sort: get("sort"),
          metric: get("metric"), a: get("folder-a"), b: get("folder-b"), desc: get("direction") === "desc",
          minGap: parseFloat(get("min-gap"))};
}

function selected() {
  const c = current();
  let rows = DATA.samples.map((s, i) => ({s, i}));
  if (c.category) rows = rows.filter((r) => r.s.category === c.category);
  if (c.search) rows = rows.filter((r) => (r.s.key + " " + r.s.instruction).toLowerCase().includes(c.search));
  const usesGap = c.sort === "gap" || c.sort === "absgap" || !Number.isNaN(c.minGap);
  for (const r of rows) {
    r.gap = usesGap ? gapOf(r.s, c.a, c.b, c.metric) : null;
    r.key = c.sort === "value" ? valueOf(r.s, c.a, c.metric)
          : c.sort === "gap" ? r.gap : c.sort === "absgap" ? (r.gap === null ? null : Math.abs(r.gap)) : r.i;
  }
  if (!Number.isNaN(c.minGap)) rows = rows.filter((r) => r.gap !== null && Math.abs(r.gap) >= c.minGap);
  if (c.sort !== "order") {
    const known = rows.filter((r) => r.key !== null), unknown = rows.filter((r) => r.key === null);
    known.sort((x, y) => (c.desc ? y.key - x.key : x.key - y.key) || x.i - y.i);
    rows = known.concat(unknown);
  }
  return {rows, c};
}

function figure(src, caption, cls) {
  return el("figure", {class: cls || ""}, el("img", {src, loading: "lazy", alt: caption}), el("figcaption", {}, caption));
}

function judgeBlock(judge) {
  if (!judge) return null;
  if (judge.status !== "scored") return el("p", {class: "bad"}, `judge: ${judge.status} ${judge.reason || ""}`);
  const parts = [];
  if (judge.o !== undefined) {
    parts.push(`O ${fmt("o", judge.o)} · SC ${fmt("sc", judge.sc)} (success ${fmt("", judge.success)}, over-edit ` +
               `${fmt("", judge.overedit)}) · PQ ${fmt("pq", judge.pq)} (natural ${fmt("", judge.naturalness)}, ` +
               `artifacts ${fmt("", judge.artifacts)})`);
  } else {
    parts.push(`score ${fmt("score", judge.score)} (${fmt("", judge.c1)} / ${fmt("", judge.c2)} / ${fmt("", judge.c3)})`);
  }
  const block = el("div", {class: "judge"}, el("p", {}, "judge: " + parts[0]));
  if (judge.reasoning) {
    block.append(el("details", {}, el("summary", {}, "reasoning"), el("p", {class: "reasoning"}, judge.reasoning)));
  }
  return block;
}

function card(row, c) {
  const s = row.s;
  const head = el("p", {class: "head"}, el("b", {}, s.key), ` (${s.category})`);
  if (s.instruction) head.append(": ", el("span", {class: "instruction"}, s.instruction));
  if (row.gap !== null && row.gap !== undefined) {
    head.append(el("span", {class: "gap"}, `gap ${DATA.titles[c.metric] || c.metric} ${c.a} − ${c.b}: ` +
                                           (Number.isFinite(row.gap) ? row.gap.toFixed(3) : (row.gap > 0 ? "+∞" : "−∞"))));
  }
  if (s.error) return el("div", {class: "sample"}, head, el("p", {class: "bad"}, s.error));
  const columns = [el("div", {class: "col"}, figure(s.source, "source"), figure(s.mask, "edit region (red)"))];
  for (const label of DATA.labels) {
    const cell = s.results[label] || {status: "absent"};
    const col = el("div", {class: "col"});
    if (cell.status !== "ok") {
      col.append(el("p", {class: "bad tile"}, `${label}: ${cell.status}`));
    } else {
      col.append(figure(cell.image, label, "result"), figure(cell.error_map, `${label}: keep-region error`));
      const m = cell.metrics || {};
      const lines = DATA.metrics.map((n) => `${DATA.titles[n] || n} ${fmt(n, m[n], cell.exact)}`);
      col.append(el("p", {class: "metrics"}, lines.join(" · ")));
      if (cell.exact) col.append(el("p", {class: "exact"}, "keep region reproduced exactly"));
      const j = judgeBlock(cell.judge);
      if (j) col.append(j);
    }
    columns.push(col);
  }
  const box = el("div", {class: "sample", "data-key": s.key}, head, el("div", {class: "cols"}, ...columns));
  if (s.ratings && s.ratings.length) {
    box.append(el("p", {class: "ratings"}, "human: " + s.ratings.map(
      (r) => `${r.rater}: ${r.ranking.map((g) => g.join(" = ")).join(" > ")}`).join("; ")));
  }
  return box;
}

function render() {
  const {rows, c} = selected();
  const list = document.getElementById("samples");
  list.innerHTML = "";
  for (const row of rows.slice(0, view.shown)) list.append(card(row, c));
  document.getElementById("count").textContent =
    `${rows.length} of ${DATA.samples.length} samples match; showing ${Math.min(view.shown, rows.length)}.`;
  if (rows.length > view.shown) {
    const more = el("button", {id: "more", type: "button"}, `Show ${Math.min(PAGE, rows.length - view.shown)} more`);
    more.addEventListener("click", () => { view.shown += PAGE; render(); });
    list.append(more);
  }
}

buildControls();
render();
