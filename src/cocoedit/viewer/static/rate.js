// The rating page: asks the server for the rater's current task, shows it, sends the answer.
// Folder names never reach this page: images are addressed by task and display position.
"use strict";

const state = {rater: null, task: null, order: []};
const $ = (id) => document.getElementById(id);
const LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";

function say(text, isError) {
  $("message").textContent = text;
  $("message").className = isError ? "error" : "";
}

async function api(path, options) {
  const response = await fetch(path, options);
  const body = await response.json().catch(() => ({error: `HTTP ${response.status}`}));
  if (!response.ok) throw new Error(body.error || `HTTP ${response.status}`);
  return body;
}

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
  if (id) b.id = id;
  b.addEventListener("click", onClick);
  return b;
}

function renderTask(task) {
  state.task = task;
  state.order = [];
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
    img.alt = `result ${LETTERS[i]}`;
    const cap = document.createElement("figcaption");
    cap.textContent = `Result ${LETTERS[i]}`;
    fig.append(img, cap);
    if (task.mode === "ranked") fig.addEventListener("click", () => pick(i));
    candidates.append(fig);
  });
  const buttons = $("buttons");
  buttons.innerHTML = "";
  if (task.mode === "pairwise") {
    $("help").textContent = "Which result follows the instruction and changes nothing else? Keys: ← A, ↓ tie, → B.";
    buttons.append(button("A is better", () => send([[0], [1]]), "choose-a"),
                   button("Tie", () => send([[0, 1]]), "choose-tie"),
                   button("B is better", () => send([[1], [0]]), "choose-b"));
  } else {
    $("help").textContent = "Click the results from best to worst, then submit.";
    const submit = button("Submit ranking", () => send(state.order.map((p) => [p])), "submit-ranking");
    submit.disabled = true;
    buttons.append(submit, button("Start over", () => renderTask(state.task), "reset-ranking"));
  }
}

function pick(position) {
  if (state.order.includes(position)) return;
  state.order.push(position);
  const fig = document.querySelector(`.candidate[data-position="${position}"]`);
  fig.classList.add("ranked");
  const rank = document.createElement("span");
  rank.className = "rank";
  rank.textContent = state.order.length;
  fig.querySelector("figcaption").append(rank);
  $("submit-ranking").disabled = state.order.length !== state.task.shown.length;
}

async function send(ranking) {
  if (!state.task) return;
  const task = state.task;
  state.task = null;
  try {
    await api("/api/vote", {method: "POST", headers: {"Content-Type": "application/json"},
                            body: JSON.stringify({rater: state.rater, task: task.id, ranking})});
  } catch (e) {
    say(`Could not save the answer: ${e.message}`, true);
  }
  await load();
}

async function load() {
  try {
    const body = await api(`/api/task?rater=${encodeURIComponent(state.rater)}`);
    showProgress(body.progress);
    if (body.task) {
      say("");
      renderTask(body.task);
    } else {
      $("task").hidden = true;
      say("All done. Thank you! The aggregate is on the results page.");
    }
  } catch (e) {
    say(e.message, true);
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
  load();
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
document.addEventListener("keydown", (event) => {
  if (!state.task || state.task.mode !== "pairwise" || event.target.tagName === "INPUT") return;
  const answers = {ArrowLeft: [[0], [1]], ArrowDown: [[0, 1]], ArrowRight: [[1], [0]]};
  if (answers[event.key]) {
    event.preventDefault();
    send(answers[event.key]);
  }
});

const initial = new URLSearchParams(location.search).get("rater") || localStorage.getItem("cocoedit-rater");
if (initial) start(initial);
else say("Enter your rater id to begin. Results are shown in a random order and on random sides.");
