// The side-by-side page: renders the samples from the JSON block, sorts and filters them, sizes the
// images (one scale per sample, nearest-neighbour upscaling), flickers source and results in place.
// Runs from a file:// URL, with no server and nothing loaded from elsewhere. The controls' state is
// kept in the URL's fragment (#sort=gap&metric=keep_psnr&...), so a view can be bookmarked and shared.
"use strict";

const DATA = JSON.parse(document.getElementById("view-data").textContent);
const PAGE = 40;
const FIT_BOX = [256, 192];  // CSS px a source is fitted into; its results and maps get the same scale
const ZOOMS = ["1", "2", "3", "4", "6", "8"];
const view = {shown: PAGE, current: -1, flickered: null};  // flickered: the key of the sample flickered
// Control id -> key in the URL fragment.
const STATE_KEYS = {category: "cat", search: "q", sort: "sort", metric: "metric", "folder-a": "a", "folder-b": "b",
                    direction: "dir", "min-gap": "min", size: "size", zoom: "zoom"};

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

function changed() {
  view.shown = PAGE;
  view.current = -1;
  view.flickered = null;
  saveState();
  render();
}

function select(id, label, options, value) {
  const s = el("select", {id});
  for (const [v, text] of options) s.append(el("option", {value: v}, text));
  if (value !== undefined) s.value = value;
  s.addEventListener("change", changed);
  return el("label", {}, label + " ", s);
}

function buildControls() {
  const categories = [...new Set(DATA.samples.map((s) => s.category))].sort();
  const labels = DATA.labels.map((l) => [l, l]);
  const metrics = DATA.sortable.map((m) => [m, DATA.titles[m] || m]);
  const search = el("input", {id: "search", type: "search", placeholder: "key or instruction"});
  search.addEventListener("input", changed);
  const minGap = el("input", {id: "min-gap", type: "number", step: "any", min: "0", placeholder: "0"});
  minGap.addEventListener("input", changed);
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
    select("size", "Size", [["fit", "fit"], ["actual", "actual pixels"]]),
    select("zoom", "zoom", ZOOMS.map((z) => [z, `${z}×`])),
  );
}

// The URL fragment <-> the controls.
const DEFAULTS = {};  // control id -> its value before the URL's state is applied

function saveState() {
  const params = new URLSearchParams();
  for (const [id, key] of Object.entries(STATE_KEYS)) {
    const value = document.getElementById(id).value;
    if (value !== DEFAULTS[id]) params.set(key, value);
  }
  history.replaceState(null, "", "#" + params.toString());
}

function loadState() {
  const params = new URLSearchParams(location.hash.slice(1));
  for (const [id, key] of Object.entries(STATE_KEYS)) {
    if (!params.has(key)) continue;
    const node = document.getElementById(id);
    const value = params.get(key);
    if (node.tagName === "SELECT" && ![...node.options].some((o) => o.value === value)) continue;
    node.value = value;
  }
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

// CSS px per stored pixel for a sample: the largest whole multiple that fits the source into FIT_BOX,
// at least 1 (a source larger than the box is shown as it is and its row scrolls sideways), so every
// pixel is a square of one size and none is dropped; or one device pixel per stored pixel; times the zoom.
function scaleOf(sample) {
  const zoom = Number(document.getElementById("zoom").value) || 1;
  if (document.getElementById("size").value === "actual") return zoom / (window.devicePixelRatio || 1);
  const [w, h] = sample.size;
  return Math.max(1, Math.floor(Math.min(FIT_BOX[0] / w, FIT_BOX[1] / h))) * zoom;
}

function picture(src, size, caption, cls, scale) {
  const img = el("img", {src, loading: "lazy", alt: caption, class: "px"});
  img.dataset.src = src;
  img.style.width = `${Math.max(1, Math.round(size[0] * scale))}px`;
  img.style.height = `${Math.max(1, Math.round(size[1] * scale))}px`;
  return el("figure", {class: cls || ""}, img, el("figcaption", {}, caption));
}

function judgeBlock(judge) {
  if (!judge) return null;
  if (judge.status !== "scored") return el("p", {class: "bad"}, `judge: ${judge.status} ${judge.reason || ""}`);
  let text;
  if (judge.o !== undefined) {
    text = `O ${fmt("o", judge.o)} · SC ${fmt("sc", judge.sc)} (success ${fmt("", judge.success)}, over-edit ` +
           `${fmt("", judge.overedit)}) · PQ ${fmt("pq", judge.pq)} (natural ${fmt("", judge.naturalness)}, ` +
           `artifacts ${fmt("", judge.artifacts)})`;
  } else {
    text = `score ${fmt("score", judge.score)} (${fmt("", judge.c1)} / ${fmt("", judge.c2)} / ${fmt("", judge.c3)})`;
  }
  const block = el("div", {class: "judge"}, el("p", {}, "judge: " + text));
  if (judge.reasoning) {
    block.append(el("details", {}, el("summary", {}, "reasoning"), el("p", {class: "reasoning"}, judge.reasoning)));
  }
  return block;
}

function sizeNote(sample) {
  const [w, h] = sample.original_size, [sw, sh] = sample.size;
  return w === sw && h === sh ? `${w}×${h} px` : `${w}×${h} px, stored at ${sw}×${sh}`;
}

function card(row, c, position) {
  const s = row.s;
  const head = el("p", {class: "head"}, el("b", {}, s.key), ` (${s.category})`);
  if (s.instruction) head.append(": ", el("span", {class: "instruction"}, s.instruction));
  if (row.gap !== null && row.gap !== undefined) {
    head.append(el("span", {class: "gap"}, `gap ${DATA.titles[c.metric] || c.metric} ${c.a} − ${c.b}: ` +
                                           (Number.isFinite(row.gap) ? row.gap.toFixed(3) : (row.gap > 0 ? "+∞" : "−∞"))));
  }
  if (s.error) return el("div", {class: "sample", "data-key": s.key, "data-position": position}, head,
                         el("p", {class: "bad"}, s.error));
  const scale = scaleOf(s);
  const flicker = el("button", {type: "button", class: "flicker", title: "show the source in place of the results (f)"},
                     "flicker");
  flicker.addEventListener("click", () => { select_(position); toggleFlicker(); });
  head.append(" ", el("span", {class: "size muted"}, sizeNote(s)), " ", flicker);
  const columns = [el("div", {class: "col"}, picture(s.source, s.size, "source", "source", scale),
                      picture(s.mask, s.size, "edit region (red)", "", scale))];
  for (const label of DATA.labels) {
    const cell = s.results[label] || {status: "absent"};
    const col = el("div", {class: "col"});
    if (cell.status !== "ok") {
      col.append(el("p", {class: "bad tile"}, `${label}: ${cell.status}`));
    } else {
      const result = picture(cell.image, cell.size, label, "result", scale);
      result.querySelector("img").dataset.flickerSize = JSON.stringify(cell.size);
      col.append(result, picture(cell.error_map, s.size, `${label}: keep-region error`, "", scale));
      const m = cell.metrics || {};
      const lines = DATA.metrics.map((n) => `${DATA.titles[n] || n} ${fmt(n, m[n], cell.exact)}`);
      col.append(el("p", {class: "metrics"}, lines.join("\n")));
      if (cell.exact) col.append(el("p", {class: "exact"}, "keep region reproduced exactly"));
      const j = judgeBlock(cell.judge);
      if (j) col.append(j);
    }
    columns.push(col);
  }
  const box = el("div", {class: "sample", "data-key": s.key, "data-position": position}, head,
                 el("div", {class: "cols"}, ...columns));
  box.addEventListener("click", (event) => { if (event.target.tagName !== "BUTTON") select_(position); });
  if (s.ratings && s.ratings.length) {
    const answer = (r) => r.kind === "skip" ? "skipped" : r.kind === "both_bad" ? "both bad"
      : r.ranking.map((g) => g.join(" = ")).join(" > ");
    box.append(el("p", {class: "ratings"}, "human: " + s.ratings.map((r) => `${r.rater}: ${answer(r)}`).join("; ")));
  }
  return box;
}

function cards() {
  return [...document.querySelectorAll("#samples .sample")];
}

// Flicker: every result of the current sample shows the source in its place (same scale), and back.
function toggleFlicker() {
  const box = cards()[view.current];
  if (box) setFlicker(box, !box.classList.contains("flickered"));
}

function setFlicker(box, on) {
  const entry = DATA.samples.find((s) => s.key === box.dataset.key);
  if (!entry || entry.error) return;
  if (on) for (const other of document.querySelectorAll(".sample.flickered")) if (other !== box) showSource(other, false);
  showSource(box, on);
  view.flickered = on ? entry.key : null;
}

function showSource(box, on) {
  const entry = DATA.samples.find((s) => s.key === box.dataset.key);
  const scale = scaleOf(entry);
  box.classList.toggle("flickered", on);
  for (const img of box.querySelectorAll("figure.result img")) {
    const size = on ? entry.size : JSON.parse(img.dataset.flickerSize);
    img.src = on ? entry.source : img.dataset.src;
    img.style.width = `${Math.max(1, Math.round(size[0] * scale))}px`;
    img.style.height = `${Math.max(1, Math.round(size[1] * scale))}px`;
  }
}

function select_(position) {
  const all = cards();
  if (!all.length) return;
  position = Math.max(0, Math.min(all.length - 1, position));
  if (view.current >= 0 && all[view.current]) all[view.current].classList.remove("current");
  view.current = position;
  all[position].classList.add("current");
}

function move(step) {
  const all = cards();
  if (step > 0 && view.current + step >= all.length && document.getElementById("more")) {
    const keep = view.current;
    view.shown += PAGE;
    render();
    view.current = keep;
  }
  select_(view.current < 0 ? 0 : view.current + step);
  const box = cards()[view.current];
  if (box) box.scrollIntoView({block: "start"});
}

function render() {
  const {rows, c} = selected();
  const list = document.getElementById("samples");
  list.innerHTML = "";
  rows.slice(0, view.shown).forEach((row, position) => list.append(card(row, c, position)));
  document.getElementById("count").textContent =
    `${rows.length} of ${DATA.samples.length} samples match; showing ${Math.min(view.shown, rows.length)}.`;
  if (rows.length > view.shown) {
    const more = el("button", {id: "more", type: "button"}, `Show ${Math.min(PAGE, rows.length - view.shown)} more`);
    more.addEventListener("click", () => { view.shown += PAGE; render(); });
    list.append(more);
  }
  if (view.current >= 0) select_(view.current);
  const flickered = cards().find((box) => box.dataset.key === view.flickered);
  if (flickered) setFlicker(flickered, true);
}

function stepZoom(step) {
  const zoom = document.getElementById("zoom");
  zoom.selectedIndex = Math.max(0, Math.min(ZOOMS.length - 1, zoom.selectedIndex + step));
  saveState();
  render();
}

document.addEventListener("keydown", (event) => {
  if (event.ctrlKey || event.metaKey || event.altKey || ["INPUT", "SELECT", "TEXTAREA"].includes(event.target.tagName)) return;
  const actions = {
    j: () => move(1), k: () => move(-1), f: toggleFlicker, "+": () => stepZoom(1), "=": () => stepZoom(1),
    "-": () => stepZoom(-1),
    a: () => {
      const size = document.getElementById("size");
      size.value = size.value === "actual" ? "fit" : "actual";
      saveState();
      render();
    },
  };
  const action = actions[event.key];
  if (!action || (event.repeat && event.key === "f")) return;
  event.preventDefault();
  action();
});

buildControls();
for (const id of Object.keys(STATE_KEYS)) DEFAULTS[id] = document.getElementById(id).value;
loadState();
render();
