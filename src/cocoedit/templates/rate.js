// The rating page: asks the server for the rater's current task, shows it, sends the answer.
// Folder names never reach this page: images are addressed by task and display position.
//
// Every answer meant: a held key's repeats are ignored; after an answer, input is locked for a moment
// (ANSWER_LOCK_MS after the answer and SHOWN_LOCK_MS after the next task appears), so a double press
// does not answer the next task; a save that fails stays on screen until it is retried or resolved.
// A post refused for its token (a page older than the server's token) fetches the page's current
// token and is sent once more.
"use strict";

let TOKEN = document.querySelector('meta[name="rating-token"]').content;
const ANSWER_LOCK_MS = 700;
const SHOWN_LOCK_MS = 400;
const LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const ZOOMS = [1, 2, 3, 4, 6, 8];
const state = {
  rater: null, task: null, groups: [], tieNext: false, busy: false, blocked: false,
  answeredAt: -Infinity, shownAt: -Infinity, lastAnswer: null, zoom: 0, actual: false, flicker: false, timer: null,
};
const $ = (id) => document.getElementById(id);

function say(text) {
  $("message").textContent = text;
}

class RequestError extends Error {
  constructor(message, status, refused) {
    super(message);
    this.status = status;  // 0 when the server could not be reached
    this.refused = refused;  // "token": the page's token is not the server's
  }
}

async function request(path, options) {
  let response;
  try {
    response = await fetch(path, options);
  } catch (e) {
    throw new RequestError("the server cannot be reached", 0);
  }
  const answer = await response.json().catch(() => ({error: `HTTP ${response.status}`}));
  if (!response.ok) throw new RequestError(answer.error || `HTTP ${response.status}`, response.status, answer.refused);
  return answer;
}

// The token of the rating page as the server serves it now (the same page, fetched again).
async function freshToken() {
  let html;
  try {
    html = await (await fetch("/", {cache: "no-store"})).text();
  } catch (e) {
    throw new RequestError("the server cannot be reached", 0);
  }
  const meta = new DOMParser().parseFromString(html, "text/html").querySelector('meta[name="rating-token"]');
  if (!meta) throw new RequestError("the rating page could not be loaded again", 0);
  TOKEN = meta.content;
}

async function api(path, body) {
  if (body === undefined) return request(path, {});
  const post = () => request(path, {
    method: "POST", body: JSON.stringify(body),
    headers: {"Content-Type": "application/json", "X-Rating-Token": TOKEN},
  });
  try {
    return await post();
  } catch (e) {
    if (e.refused !== "token") throw e;
    await freshToken();
    return post();
  }
}

// -- the lock ---------------------------------------------------------------------------------
function unlockAt() {
  return Math.max(state.answeredAt + ANSWER_LOCK_MS, state.shownAt + SHOWN_LOCK_MS);
}

function locked() {
  return state.busy || state.blocked || !state.task || performance.now() < unlockAt();
}

function refresh() {
  const isLocked = locked();
  $("task").dataset.locked = isLocked ? "yes" : "no";
  for (const b of $("buttons").querySelectorAll("button")) {
    b.disabled = isLocked || (b.id === "submit-ranking" && !complete());
  }
  $("undo").disabled = state.busy || state.blocked || !state.lastAnswer;
  clearTimeout(state.timer);
  if (isLocked && !state.busy && !state.blocked && state.task) {
    state.timer = setTimeout(refresh, Math.max(0, unlockAt() - performance.now()) + 5);
  }
}

// -- failures stay visible until resolved ---------------------------------------------------------
function block(text, label, action) {
  state.blocked = true;
  $("save-error-text").textContent = text;
  const button = $("save-error-action");
  button.textContent = label;
  button.onclick = () => {
    $("save-error").hidden = true;
    state.blocked = false;
    refresh();
    action();
  };
  $("save-error").hidden = false;
  refresh();
}

// -- showing a task ---------------------------------------------------------------------------
function showProgress(progress) {
  $("progress").innerHTML = "";
  const text = document.createElement("span");
  text.id = "progress-text";
  text.textContent = `${progress.done} / ${progress.total} rated`;
  const bar = document.createElement("progress");
  bar.max = progress.total;
  bar.value = progress.done;
  $("progress").append(text, bar);
}

function button(label, onClick, id) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = label;
  b.id = id;
  b.addEventListener("click", onClick);
  return b;
}

function renderTask(task) {
  state.task = task;
  state.groups = [];
  state.tieNext = false;
  state.flicker = false;
  $("task").hidden = false;
  $("instruction").textContent = task.instruction;
  $("category").textContent = `Edit type: ${task.category}`;
  $("source").src = task.source;
  const candidates = $("candidates");
  candidates.innerHTML = "";
  task.shown.forEach((url, i) => {
    const fig = document.createElement("figure");
    fig.className = "candidate";
    fig.dataset.position = i;
    const img = document.createElement("img");
    img.src = url;
    img.dataset.src = url;
    img.alt = `result ${LETTERS[i]}`;
    img.className = "px";
    const cap = document.createElement("figcaption");
    // Keys 1-9 place the first nine results; a tenth and beyond are placed by clicking.
    const key = task.mode === "ranked" && i < 9 ? ` [${i + 1}]` : "";
    cap.textContent = `Result ${LETTERS[i]}${key}`;
    fig.append(img, cap);
    if (task.mode === "ranked") fig.addEventListener("click", () => pick(i));
    candidates.append(fig);
  });
  const buttons = $("buttons");
  buttons.innerHTML = "";
  if (task.mode === "pairwise") {
    $("help").textContent = "Which result follows the instruction and changes nothing else? " +
      "Keys: ← A, ↓ tie (equally good), x both bad, → B, s skip (cannot tell), u undo.";
    buttons.append(button("A is better (←)", () => answer("rank", [[0], [1]]), "choose-a"),
                   button("Tie: equally good (↓)", () => answer("rank", [[0, 1]]), "choose-tie"),
                   button("Both bad (x)", () => answer("both_bad", null), "choose-both-bad"),
                   button("B is better (→)", () => answer("rank", [[1], [0]]), "choose-b"),
                   button("Skip: cannot tell (s)", () => answer("skip", null), "skip"));
  } else {
    $("help").textContent = "Order the results from best to worst: click them or press their numbers. " +
      "t: the next one ties with the previous; Backspace: take back the last; Enter: submit; s: skip; u: undo.";
    buttons.append(button("Submit ranking (Enter)", submitRanking, "submit-ranking"),
                   button("Tie with previous (t)", toggleTie, "tie-next"),
                   button("Take back last (Backspace)", takeBack, "take-back"),
                   button("Start over (Esc)", startOver, "reset-ranking"),
                   button("Skip: cannot tell (s)", () => answer("skip", null), "skip"));
  }
  showRanking();
  refresh();
}

// -- one scale for the source and every result, upscaled by nearest neighbour ---------------------
// Fit: the largest whole multiple that fits the window, at least 1 (never shrunk: pixels would be
// dropped; the row scrolls sideways instead).
function layout() {
  const source = $("source");
  if (!source.naturalWidth) return;
  const w = source.naturalWidth, h = source.naturalHeight;
  const count = (state.task ? state.task.shown.length : 1) + 1;
  let scale;
  if (state.actual) {
    scale = ZOOMS[state.zoom] / (window.devicePixelRatio || 1);
  } else {
    const width = ($("images").clientWidth - 24 * count) / count;
    const fit = Math.min(width / w, (window.innerHeight * 0.6) / h);
    scale = Math.max(1, Math.floor(fit)) * ZOOMS[state.zoom];
  }
  for (const img of document.querySelectorAll("#images img")) {
    img.style.width = `${Math.max(1, Math.round(w * scale))}px`;
    img.style.height = `${Math.max(1, Math.round(h * scale))}px`;
  }
}

function flicker() {
  if (!state.task) return;
  state.flicker = !state.flicker;
  for (const fig of document.querySelectorAll(".candidate")) {
    const img = fig.querySelector("img");
    img.src = state.flicker ? state.task.source : img.dataset.src;
    fig.classList.toggle("flickered", state.flicker);
  }
}

// -- answers ----------------------------------------------------------------------------------
function answer(kind, ranking) {
  if (locked()) return;
  state.answeredAt = performance.now();
  save(state.task, kind, ranking);
}

async function save(task, kind, ranking) {
  state.busy = true;
  refresh();
  try {
    const body = await api("/api/vote", {rater: state.rater, task: task.id, kind, ranking});
    state.lastAnswer = body.last_answer;
    showProgress(body.progress);
    state.busy = false;
    await load(true);
  } catch (e) {
    state.busy = false;
    if (e.status === 409) {
      block(`Task ${task.id} was already answered (in another tab or window?): this answer was not recorded.`,
            "Continue", () => load(true));
    } else if (e.status === 0 || e.status >= 500) {
      block(`Could not save the answer (${describe(kind, ranking)}): ${e.message}. Nothing was recorded; ` +
            "it is kept here to send again.", "Retry", () => save(task, kind, ranking));
    } else {
      block(`The answer was refused: ${e.message}`, "Reload the task", () => load(false));
    }
  }
}

function describe(kind, ranking) {
  if (kind === "skip") return "skip";
  if (kind === "both_bad") return "both bad";
  return ranking.map((g) => g.map((p) => LETTERS[p]).join(" = ")).join(" > ");
}

async function undo() {
  if (state.busy || state.blocked || !state.lastAnswer) return;
  state.busy = true;
  refresh();
  try {
    const body = await api("/api/undo", {rater: state.rater, task: state.lastAnswer});
    state.lastAnswer = body.last_answer;
    showProgress(body.progress);
    state.busy = false;
    say("The last answer was withdrawn; here is its task again.");
    await load(true, true);
  } catch (e) {
    state.busy = false;
    block(`Undo was refused: ${e.message}`, "Continue", () => load(false));
  }
}

// -- ranked mode ------------------------------------------------------------------------------
function placed(position) {
  return state.groups.some((g) => g.includes(position));
}

function complete() {
  return state.task && state.groups.flat().length === state.task.shown.length;
}

function pick(position) {
  if (locked() || placed(position) || position >= state.task.shown.length) return;
  if (state.tieNext && state.groups.length) state.groups[state.groups.length - 1].push(position);
  else state.groups.push([position]);
  state.tieNext = false;
  showRanking();
  refresh();
}

function toggleTie() {
  if (locked() || !state.groups.length) return;
  state.tieNext = !state.tieNext;
  showRanking();
}

function takeBack() {
  if (locked() || !state.groups.length) return;
  const last = state.groups[state.groups.length - 1];
  last.pop();
  if (!last.length) state.groups.pop();
  state.tieNext = false;
  showRanking();
  refresh();
}

function startOver() {
  if (locked()) return;
  state.groups = [];
  state.tieNext = false;
  showRanking();
  refresh();
}

function submitRanking() {
  if (complete()) answer("rank", state.groups.map((g) => g.slice()));
}

function showRanking() {
  if (!state.task || state.task.mode !== "ranked") {
    $("ranking-text").hidden = true;
    return;
  }
  for (const fig of document.querySelectorAll(".candidate")) {
    const position = Number(fig.dataset.position);
    const rank = state.groups.findIndex((g) => g.includes(position));
    fig.classList.toggle("ranked", rank >= 0);
    let badge = fig.querySelector(".rank");
    if (rank < 0) {
      if (badge) badge.remove();
      continue;
    }
    if (!badge) {
      badge = document.createElement("span");
      badge.className = "rank";
      fig.querySelector("figcaption").append(badge);
    }
    badge.textContent = rank + 1;
  }
  const text = state.groups.map((g) => g.map((p) => LETTERS[p]).join(" = ")).join(" > ");
  $("ranking-text").hidden = false;
  $("ranking-text").textContent = (text ? `Your ranking: ${text}` : "Your ranking: (none yet)") +
    (state.tieNext ? " = … (the next one ties)" : "");
  const tie = $("tie-next");
  if (tie) tie.setAttribute("aria-pressed", String(state.tieNext));
}

// -- loading ----------------------------------------------------------------------------------
async function load(afterAnswer, keepMessage) {
  try {
    const body = await api(`/api/task?rater=${encodeURIComponent(state.rater)}`);
    showProgress(body.progress);
    state.lastAnswer = body.last_answer;
    if (!keepMessage) say("");
    if (body.task) {
      if (afterAnswer) state.shownAt = performance.now();
      renderTask(body.task);
    } else {
      state.task = null;
      $("task").hidden = true;
      say("All done. Thank you!");
      refresh();
    }
  } catch (e) {
    if (e.status === 400) {  // a bad rater id: ask again
      say(e.message);
      $("rater-form").hidden = false;
      $("rater-shown").hidden = true;
      return;
    }
    block(`Could not load the next task: ${e.message}`, "Retry", () => load(afterAnswer));
  }
}

function start(rater) {
  state.rater = rater;
  localStorage.setItem("cocoedit-rater", rater);
  const url = new URL(location.href);
  url.searchParams.set("rater", rater);
  history.replaceState(null, "", url);
  $("rater-form").hidden = true;
  $("rater-shown").hidden = false;
  $("rater-name").textContent = rater;
  load(false);
}

$("rater-form").addEventListener("submit", (event) => {
  event.preventDefault();
  start($("rater").value.trim());
});
$("switch").addEventListener("click", (event) => {
  event.preventDefault();
  localStorage.removeItem("cocoedit-rater");
  location.search = "";
});
$("undo").addEventListener("click", undo);
$("source").addEventListener("load", layout);
window.addEventListener("resize", layout);

const VIEW_KEYS = {
  f: flicker,
  "+": () => { state.zoom = Math.min(ZOOMS.length - 1, state.zoom + 1); layout(); },
  "=": () => { state.zoom = Math.min(ZOOMS.length - 1, state.zoom + 1); layout(); },
  "-": () => { state.zoom = Math.max(0, state.zoom - 1); layout(); },
  "0": () => { state.actual = !state.actual; layout(); },
};
const PAIR_KEYS = {
  ArrowLeft: () => answer("rank", [[0], [1]]), ArrowRight: () => answer("rank", [[1], [0]]),
  ArrowDown: () => answer("rank", [[0, 1]]), x: () => answer("both_bad", null), s: () => answer("skip", null),
  u: undo,
};
const RANK_KEYS = {
  t: toggleTie, Backspace: takeBack, Enter: submitRanking, Escape: startOver, s: () => answer("skip", null), u: undo,
};

document.addEventListener("keydown", (event) => {
  if (event.target.tagName === "INPUT" || event.ctrlKey || event.metaKey || event.altKey) return;
  let action = VIEW_KEYS[event.key];
  if (!action && state.task) {
    if (state.task.mode === "pairwise") action = PAIR_KEYS[event.key];
    else if (/^[1-9]$/.test(event.key)) action = () => pick(Number(event.key) - 1);
    else action = RANK_KEYS[event.key];
  }
  if (!action) return;
  event.preventDefault();
  if (event.repeat) return;  // a held key answers once
  action();
});

const initial = new URLSearchParams(location.search).get("rater") || localStorage.getItem("cocoedit-rater");
if (initial) start(initial);
else say("Enter your rater id to begin. Results are shown in a random order and on random sides.");
