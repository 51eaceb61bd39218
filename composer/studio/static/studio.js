// composer studio: the page. Talks to the server's JSON API (composer/studio/app.py), draws the
// piano roll on a canvas, and plays takes with spessasynth_lib (vendored, Apache-2.0) and the GM
// sound font the server serves. Everything is loaded from the server: no network beyond it.
import { Sequencer, WorkletSynthesizer } from "spessasynth_lib";

const $ = (id) => document.getElementById(id);
const COLORS = ["#5fb3ff", "#ff9f43", "#6bd38a", "#ff6b9a", "#c38bff", "#ffd166", "#4dd6c8", "#ff7b5c",
  "#9ad14b", "#7d8cff", "#f78fe0", "#b0b8c8"];
const RULER = 18;

const state = {
  model: null, take: null, roll: null, midi: null,
  selection: { bars: null, anchor: null, tracks: new Set() },
  mute: new Set(), solo: new Set(), job: null, layout: null,
};
// what the tests (and a curious user, from the console) can read
const studio = window.studio = {
  state, synthReady: false, playing: false, notesPlayed: 0, clickedAt: null, firstSoundMs: null,
  jobClickedAt: null, notesDrawn: 0,
};

// ---- server ----------------------------------------------------------------------------
async function api(method, path, body, raw = false) {
  const opts = { method, headers: {} };
  if (body !== undefined) {
    if (raw) opts.body = body;
    else { opts.body = JSON.stringify(body); opts.headers["Content-Type"] = "application/json"; }
  }
  let r;
  try { r = await fetch(path, opts); } catch (e) { throw new Error("the studio server does not answer (is compose studio still running?)"); }
  if (r.status === 204) return null;
  let data = null;
  try { data = await r.json(); } catch { /* not JSON */ }
  if (!r.ok) throw new Error((data && data.error) || `${r.status} ${r.statusText}`);
  return data;
}

function showMessage(text, kind = "error") {
  $("message-text").textContent = text;
  $("message").className = kind === "error" ? "" : "info";
  $("message").hidden = false;
  if (kind === "error") console.warn("studio:", text);
}
$("message-close").onclick = () => { $("message").hidden = true; };

// ---- sound -----------------------------------------------------------------------------
let ctx = null, synth = null, seq = null;
const synthReady = (async () => {
  try {
    ctx = new AudioContext();
    document.addEventListener("pointerdown", () => ctx.resume(), { once: true });
    const font = fetch("/soundfont.sf2").then((r) => {
      if (!r.ok) throw new Error("the server has no sound font (pretty_midi's TimGM6mb.sf2)");
      return r.arrayBuffer();
    });
    await ctx.audioWorklet.addModule("/static/vendor/spessasynth_lib/spessasynth_processor.min.js");
    synth = new WorkletSynthesizer(ctx);
    synth.connect(ctx.destination);
    const bank = await font;
    // browsers start audio only after a click on the page
    if (ctx.state === "suspended") $("synth-status").textContent = "sound: starts with your first click";
    await synth.soundBankManager.addSoundBank(bank, "gm");
    await synth.isReady;
    seq = new Sequencer(synth);
    seq.loopCount = 0;
    synth.eventHandler.addEvent("noteOn", "studio", () => {
      studio.notesPlayed++;
      document.body.dataset.notesPlayed = String(studio.notesPlayed);
      if (studio.clickedAt !== null && studio.firstSoundMs === null) {
        studio.firstSoundMs = performance.now() - studio.clickedAt;
      }
    });
    seq.eventHandler.addEvent("songEnded", "studio", () => stop());
    studio.synthReady = true;
    $("synth-status").textContent = "sound: ready";
    $("synth-status").className = "pill ok";
  } catch (e) {
    $("synth-status").textContent = "sound: unavailable";
    $("synth-status").className = "pill bad";
    showMessage(`Sound: ${e.message}`);
    throw e;
  }
})();
synthReady.catch(() => {});

function audible(i) {
  return state.solo.size ? state.solo.has(i) : !state.mute.has(i);
}

function applyMutes() {
  if (!synth || !state.roll) return;
  const channels = new Map();
  state.roll.tracks.forEach((t, i) => channels.set(t.channel, (channels.get(t.channel) || false) || audible(i)));
  for (const [ch, on] of channels) synth.midiChannels[ch]?.setSystemParameter("isMuted", !on);
}

async function play(since = performance.now()) {
  if (!state.take) return;
  studio.clickedAt = since;
  studio.firstSoundMs = null;
  try {
    await ctx?.resume();
    await synthReady;
    if (!state.midi) {
      const r = await fetch(midiUrl(state.take.id));
      if (!r.ok) throw new Error(((await r.json().catch(() => ({}))).error) || `${r.status} ${r.statusText}`);
      state.midi = await r.arrayBuffer();
    }
    synth.stopAll(true);
    seq.loadNewSongList([{ binary: state.midi.slice(0), fileName: "take.mid" }]);
    applyMutes();
    seq.currentTime = 0;
    seq.play();
    studio.playing = true;
    $("play").disabled = true;
    $("stop").disabled = false;
    requestAnimationFrame(tick);
  } catch (e) {
    showMessage(`Cannot play: ${e.message}`);
  }
}

function stop() {
  if (seq && studio.playing) { seq.pause(); synth.stopAll(true); }
  studio.playing = false;
  $("play").disabled = !state.take;
  $("stop").disabled = true;
  drawPlayhead(0);
}

function tick() {
  if (!studio.playing) return;
  const t = seq.currentHighResolutionTime;
  drawPlayhead(t);
  if (state.roll && t > state.roll.seconds + 1) { stop(); return; }
  requestAnimationFrame(tick);
}

function drawPlayhead(t) {
  const c = $("playhead"), g = c.getContext("2d");
  g.clearRect(0, 0, c.width, c.height);
  const m = Math.floor(t / 60), s = (t % 60).toFixed(1).padStart(4, "0");
  $("clock").textContent = `${m}:${s}`;
  if (!state.layout || t <= 0) return;
  const x = Math.round(t * state.layout.pps) + 0.5;
  g.strokeStyle = "#ffffff";
  g.lineWidth = 2;
  g.beginPath(); g.moveTo(x, 0); g.lineTo(x, c.height); g.stroke();
  const sc = $("roll-scroll");
  if (x > sc.scrollLeft + sc.clientWidth - 40 || x < sc.scrollLeft) sc.scrollLeft = Math.max(0, x - 60);
}

// ---- the piano roll --------------------------------------------------------------------
function layout(roll) {
  const wrap = $("roll-wrap");
  const pitches = [], drums = new Set();
  for (const t of roll.tracks) for (const n of t.notes) (t.drums ? drums.add(n[2]) : pitches.push(n[2]));
  const lo = pitches.length ? Math.min(...pitches) - 2 : 60, hi = pitches.length ? Math.max(...pitches) + 2 : 72;
  const drumRows = [...drums].sort((a, b) => a - b);
  const rows = (pitches.length ? hi - lo + 1 : 0) + drumRows.length;
  const rowH = Math.max(3, Math.min(12, Math.floor((wrap.clientHeight - RULER - 16) / Math.max(rows, 1))));
  const pps = Math.max(24, (wrap.clientWidth - 16) / Math.max(roll.seconds, 1));
  const pitchedH = pitches.length ? (hi - lo + 1) * rowH : 0;
  return {
    lo, hi, rowH, pps, drumRows, pitchedH,
    width: Math.ceil(roll.seconds * pps) + 2, height: RULER + rows * rowH + (drumRows.length ? 4 : 0),
    y(track, pitch) {
      if (track.drums) return RULER + pitchedH + (pitchedH ? 4 : 0) + (drumRows.length - 1 - drumRows.indexOf(pitch)) * rowH;
      return RULER + (hi - pitch) * rowH;
    },
  };
}

function drawRoll() {
  const c = $("roll"), pc = $("playhead"), roll = state.roll;
  $("roll-empty").hidden = !!roll;
  if (!roll) { c.width = c.height = pc.width = pc.height = 0; c.dataset.notes = "0"; studio.notesDrawn = 0; return; }
  const L = state.layout = layout(roll);
  c.width = pc.width = L.width;
  c.height = pc.height = L.height;
  $("roll-stack").style.width = `${L.width}px`;
  $("roll-stack").style.height = `${L.height}px`;
  const g = c.getContext("2d");
  g.fillStyle = "#101217"; g.fillRect(0, 0, L.width, L.height);
  // black keys' rows, slightly lighter
  for (let p = L.lo; p <= L.hi && L.pitchedH; p++) {
    if ([1, 3, 6, 8, 10].includes(p % 12)) { g.fillStyle = "#151820"; g.fillRect(0, RULER + (L.hi - p) * L.rowH, L.width, L.rowH); }
    if (p % 12 === 0) { g.fillStyle = "#232735"; g.fillRect(0, RULER + (L.hi - p + 1) * L.rowH - 1, L.width, 1); }
  }
  if (L.drumRows.length && L.pitchedH) { g.fillStyle = "#2d313c"; g.fillRect(0, RULER + L.pitchedH + 1, L.width, 2); }
  // selected bars
  const sel = state.selection.bars, bars = roll.bars, barEnd = (i) => (i + 1 < bars.length ? bars[i + 1] : roll.seconds);
  if (sel) {
    g.fillStyle = "rgba(95,179,255,0.13)";
    g.fillRect(bars[sel[0]] * L.pps, 0, (barEnd(sel[1]) - bars[sel[0]]) * L.pps, L.height);
  }
  // ruler and bar lines
  g.fillStyle = "#1a1d25"; g.fillRect(0, 0, L.width, RULER);
  g.font = "11px system-ui, sans-serif"; g.textBaseline = "middle";
  bars.forEach((s, i) => {
    const x = Math.round(s * L.pps) + 0.5;
    g.fillStyle = "#343a48"; g.fillRect(x, RULER, 1, L.height - RULER);
    g.fillStyle = sel && i >= sel[0] && i <= sel[1] ? "#5fb3ff" : "#9aa0ad";
    g.fillText(String(i + 1), x + 4, RULER / 2);
  });
  // notes
  let drawn = 0;
  roll.tracks.forEach((t, i) => {
    const on = audible(i), picked = state.selection.tracks.size === 0 || state.selection.tracks.has(i);
    g.fillStyle = COLORS[i % COLORS.length];
    for (const [start, dur, pitch, vel] of t.notes) {
      g.globalAlpha = (on ? 0.45 + 0.55 * vel / 127 : 0.15) * (picked ? 1 : 0.5);
      const x = start * L.pps, w = Math.max(2, dur * L.pps - 1);
      g.fillRect(x, L.y(t, pitch) + 1, w, Math.max(2, L.rowH - 1));
      drawn++;
    }
  });
  g.globalAlpha = 1;
  c.dataset.notes = String(drawn);
  studio.notesDrawn = drawn;
  drawPlayhead(studio.playing ? seq.currentHighResolutionTime : 0);
}

$("roll").addEventListener("click", (ev) => {
  if (!state.roll || !state.layout) return;
  const rect = $("roll").getBoundingClientRect();
  const x = ev.clientX - rect.left, y = ev.clientY - rect.top, t = x / state.layout.pps;
  if (y <= RULER) {
    let i = state.roll.bars.findLastIndex((s) => s <= t);
    if (i < 0) i = 0;
    const s = state.selection;
    if (ev.shiftKey && s.anchor !== null) s.bars = [Math.min(s.anchor, i), Math.max(s.anchor, i)];
    else if (s.bars && s.bars[0] === i && s.bars[1] === i) { s.bars = null; s.anchor = null; }
    else { s.bars = [i, i]; s.anchor = i; }
    drawRoll(); updateActions();
  } else if (studio.playing) {
    seq.currentTime = t;
  }
});
window.addEventListener("resize", () => state.roll && drawRoll());

function drawTracks() {
  const body = $("tracks").querySelector("tbody");
  body.replaceChildren();
  if (!state.roll) return;
  state.roll.tracks.forEach((t, i) => {
    const tr = document.createElement("tr");
    tr.dataset.track = String(i);
    if (!audible(i)) tr.className = "muted";
    const pick = Object.assign(document.createElement("input"), { type: "checkbox", checked: state.selection.tracks.has(i), title: "select this track for an action" });
    pick.onchange = () => { pick.checked ? state.selection.tracks.add(i) : state.selection.tracks.delete(i); drawRoll(); updateActions(); };
    const sw = Object.assign(document.createElement("span"), { className: "swatch" });
    sw.style.background = COLORS[i % COLORS.length];
    const mute = Object.assign(document.createElement("button"), { textContent: "M", title: "mute", className: state.mute.has(i) ? "on mute" : "mute" });
    mute.onclick = () => { state.mute.has(i) ? state.mute.delete(i) : state.mute.add(i); refreshTracks(); };
    const solo = Object.assign(document.createElement("button"), { textContent: "S", title: "solo", className: state.solo.has(i) ? "on solo" : "solo" });
    solo.onclick = () => { state.solo.has(i) ? state.solo.delete(i) : state.solo.add(i); refreshTracks(); };
    const cells = [pick, sw, t.name, t.drums ? "drums" : t.instrument, `${t.notes.length} notes`, mute, solo];
    for (const cell of cells) {
      const td = document.createElement("td");
      td.append(cell);
      tr.append(td);
    }
    body.append(tr);
  });
}

function refreshTracks() { drawTracks(); drawRoll(); applyMutes(); }

// ---- takes -----------------------------------------------------------------------------
const midiUrl = (id) => `/api/takes/${id}/midi`;

async function openTake(id) {
  stop();
  const data = await api("GET", `/api/takes/${id}`);
  state.take = data.take; state.roll = data.roll; state.midi = null;
  state.selection = { bars: null, anchor: null, tracks: new Set() };
  state.mute.clear(); state.solo.clear();
  $("take-name").textContent = data.take.name;
  const st = data.take.settings || {};
  const bits = [`${data.roll.notes} notes`, `${data.roll.bars.length} bars`, data.roll.meter, `${Math.round(data.roll.tempo)} bpm`,
    `${data.roll.seconds.toFixed(1)} s`];
  if (st.seed !== undefined) bits.push(`seed ${st.seed}`);
  $("take-info").textContent = bits.join(" · ");
  $("download").href = midiUrl(id);
  $("download").classList.remove("disabled");
  for (const [el, kind] of [["download-wav", "wav"], ["download-xml", "musicxml"]]) {
    const ok = state.model && state.model.exports && state.model.exports[kind];
    $(el).classList.toggle("disabled", !ok);
    if (ok) $(el).href = `/api/takes/${id}/export/${kind}`; else $(el).removeAttribute("href");
    $(el).title = ok ? $(el).title : "needs FluidSynth: pip install pyfluidsynth; apt-get install libfluidsynth3";
  }
  $("play").disabled = false;
  $("reuse").disabled = !data.take.settings || data.take.settings.style === undefined;
  drawTracks(); drawRoll(); updateActions(); renderTakes();
}

function closeTake() {
  stop();
  state.take = state.roll = state.midi = null;
  $("take-name").textContent = "No take open";
  $("take-info").textContent = "";
  for (const el of ["download", "download-wav", "download-xml"]) {
    $(el).classList.add("disabled");
    $(el).removeAttribute("href");
  }
  $("play").disabled = true;
  $("reuse").disabled = true;
  drawTracks(); drawRoll(); updateActions();
}

let takes = [];
async function loadTakes() {
  takes = (await api("GET", "/api/takes")).takes;
  renderTakes();
}

function renderTakes() {
  const ul = $("takes");
  ul.replaceChildren();
  for (const t of takes) {
    const li = document.createElement("li");
    li.dataset.take = t.id;
    if (state.take && state.take.id === t.id) li.className = "open";
    const name = Object.assign(document.createElement("span"), { className: "take-name", textContent: t.name, title: "open" });
    name.onclick = () => openTake(t.id).catch((e) => showMessage(e.message));
    const when = new Date(t.created * 1000).toLocaleString([], { dateStyle: "short", timeStyle: "short" });
    const meta = Object.assign(document.createElement("div"), { className: "take-meta", textContent: `${t.source} · ${when}${t.notes ? ` · ${t.notes} notes` : ""}` });
    const tools = Object.assign(document.createElement("div"), { className: "take-tools" });
    const rename = Object.assign(document.createElement("button"), { textContent: "Rename", className: "rename" });
    rename.onclick = () => startRename(li, t);
    const del = Object.assign(document.createElement("button"), { textContent: "Delete", className: "delete" });
    del.onclick = async () => {
      if (!confirm(`Delete "${t.name}"?`)) return;
      try {
        await api("DELETE", `/api/takes/${t.id}`);
        if (state.take && state.take.id === t.id) closeTake();
        await loadTakes();
      } catch (e) { showMessage(e.message); }
    };
    const dl = Object.assign(document.createElement("a"), { className: "button", textContent: "MIDI", href: midiUrl(t.id) });
    dl.setAttribute("download", "");
    dl.style.padding = "1px 6px"; dl.style.fontSize = "11px";
    tools.append(rename, del, dl);
    li.append(name, meta, tools);
    ul.append(li);
  }
}

function startRename(li, t) {
  const input = Object.assign(document.createElement("input"), { value: t.name, className: "rename-input", maxLength: 120 });
  li.querySelector(".take-name").replaceWith(input);
  input.focus(); input.select();
  let done = false;
  const finish = async (save) => {
    if (done) return;
    done = true;
    if (save && input.value.trim() && input.value !== t.name) {
      try {
        const updated = await api("PATCH", `/api/takes/${t.id}`, { name: input.value });
        if (state.take && state.take.id === t.id) { state.take.name = updated.name; $("take-name").textContent = updated.name; }
      } catch (e) { showMessage(e.message); }
    }
    await loadTakes();
  };
  input.onkeydown = (ev) => { if (ev.key === "Enter") finish(true); if (ev.key === "Escape") finish(false); };
  input.onblur = () => finish(true);
}

async function upload(file) {
  if (!file) return;
  if (state.model && file.size > state.model.max_upload) {
    showMessage(`${file.name}: too large (at most ${Math.round(state.model.max_upload / 1024)} KB)`);
    return;
  }
  try {
    const take = await api("POST", `/api/upload?name=${encodeURIComponent(file.name)}`, file, true);
    await loadTakes();
    await openTake(take.id);
    $("message").hidden = true;
  } catch (e) { showMessage(e.message); }
}
$("upload").onchange = (ev) => { upload(ev.target.files[0]); ev.target.value = ""; };
document.addEventListener("dragover", (ev) => ev.preventDefault());
document.addEventListener("drop", (ev) => { ev.preventDefault(); upload(ev.dataTransfer.files[0]); });

// ---- generation ------------------------------------------------------------------------
function params() {
  const f = $("settings"), out = {};
  for (const name of ["style", "bars", "tempo", "time_signature", "temperature", "top_p", "guidance", "seed"]) {
    const v = f.elements[name].value.trim();
    if (v !== "") out[name] = f.elements[name].type === "number" ? Number(v) : v;
  }
  const inst = [...$("instruments").querySelectorAll("input:checked")].map((i) => i.value);
  if (inst.length) out.instruments = inst;
  return out;
}

async function startJob(action, extra = {}) {
  if (state.job) return;
  studio.jobClickedAt = performance.now();
  try {
    const body = { action, ...extra, params: { ...params(), ...(extra.params || {}) } };
    if (state.take) {
      body.take = body.take ?? state.take.id;
      body.selection = { bars: state.selection.bars, tracks: [...state.selection.tracks].sort((a, b) => a - b) };
    }
    const job = await api("POST", "/api/jobs", body);
    state.job = job;
    $("message").hidden = true;
    showJob(job);
    pollJob(job.id);
  } catch (e) { showMessage(e.message); }
}

function showJob(job) {
  const running = job.status === "queued" || job.status === "running";
  $("progress").hidden = !running;
  for (const id of ["generate", "variations"]) $(id).disabled = running;
  updateActions();
  $("progress-bar").value = job.bars_total ? job.bars_done / job.bars_total : 0;
  $("progress-text").textContent = job.status === "queued"
    ? `waiting: ${job.ahead} job${job.ahead === 1 ? "" : "s"} ahead`
    : job.bars_total ? `bar ${job.bars_done} / ${job.bars_total}` : `working… ${Math.round(job.seconds)} s`;
  $("job-status").hidden = !running;
  $("job-status").textContent = running ? $("progress-text").textContent : "";
}

async function pollJob(id) {
  let job;
  try { job = await api("GET", `/api/jobs/${id}`); } catch (e) {
    state.job = null; showJob({ status: "failed" }); showMessage(e.message); return;
  }
  state.job = job;
  showJob(job);
  if (job.status === "queued" || job.status === "running") { setTimeout(() => pollJob(id), 250); return; }
  state.job = null;
  showJob(job);
  if (job.status === "done") {
    await loadTakes();
    if (job.takes.length) {
      await openTake(job.takes[0].id);
      if ($("autoplay").checked) play(studio.jobClickedAt);  // first sound timed from the click
    }
    if (job.takes.length > 1) showMessage(`${job.takes.length} takes made: they are at the top of the list.`, "info");
  } else if (job.status === "failed") showMessage(job.error || "generation failed");
  else if (job.status === "cancelled") showMessage("Stopped.", "info");
}

// "play the take when it is ready": remembered by this browser
$("autoplay").checked = localStorage.getItem("composer-studio-autoplay") !== "0";
$("autoplay").onchange = () => localStorage.setItem("composer-studio-autoplay", $("autoplay").checked ? "1" : "0");
$("settings").onsubmit = (ev) => {
  ev.preventDefault();
  startJob("generate");
};
$("variations").onclick = () => {
  const n = Math.max(2, Math.min(8, Number($("num-variations").value) || 4));
  startJob("generate", { params: { num_samples: n } });
};
$("stop-job").onclick = async () => {
  if (!state.job) return;
  try { showJob(await api("POST", `/api/jobs/${state.job.id}/cancel`)); } catch (e) { showMessage(e.message); }
};
// the open take's settings back into the form (to make it again, or a variation of it)
$("reuse").onclick = () => {
  const st = (state.take && state.take.settings) || {};
  const f = $("settings").elements;
  if (st.style !== undefined) { f.style.value = st.style || ""; fillInstruments(); }
  for (const name of ["bars", "tempo", "time_signature", "temperature", "top_p", "guidance", "seed"]) {
    if (st[name] !== undefined && f[name]) f[name].value = st[name] === null ? "" : String(st[name]);
  }
  const wanted = new Set((st.instruments || []).map(String));
  $("instruments").querySelectorAll("input").forEach((i) => { i.checked = wanted.has(i.value); });
};
$("play").onclick = () => play();  // (not the event: play's argument is a start time)
$("stop").onclick = () => stop();
// space: play / stop (outside the form's fields)
document.addEventListener("keydown", (ev) => {
  if (ev.code !== "Space" || ev.target.closest("input, select, textarea, button")) return;
  ev.preventDefault();
  if (studio.playing) stop(); else play();
});
// takes made or renamed in another tab show up when this one comes back
window.addEventListener("focus", () => { if (state.model) loadTakes().catch(() => {}); });

// actions that work on the open take (continue, and those other versions of the model add)
function updateActions() {
  const box = $("actions");
  if (!state.model) return;
  if (!box.childElementCount) {
    for (const a of state.model.actions.filter((x) => x.needs !== "none")) {
      const b = Object.assign(document.createElement("button"), { type: "button", textContent: a.label, id: `action-${a.name}` });
      b.dataset.needs = a.needs;
      b.title = a.available ? a.help : `${a.label}: the loaded model cannot do this (not in this version, or not trained for it)`;
      b.dataset.available = a.available ? "1" : "";
      b.onclick = () => startJob(a.name);
      box.append(b);
    }
  }
  const sel = state.selection;
  for (const b of box.children) {
    const ok = b.dataset.available && state.take && !state.job && (b.dataset.needs !== "bars" || sel.bars !== null);
    b.disabled = !ok;
  }
  const parts = [];
  if (sel.bars) parts.push(sel.bars[0] === sel.bars[1] ? `bar ${sel.bars[0] + 1}` : `bars ${sel.bars[0] + 1}–${sel.bars[1] + 1}`);
  if (sel.tracks.size) parts.push(`${sel.tracks.size} track${sel.tracks.size > 1 ? "s" : ""}`);
  $("selection-info").textContent = parts.length ? `selected: ${parts.join(", ")}` : "";
}

// ---- the form --------------------------------------------------------------------------
function fillInstruments() {
  const style = state.model.styles.find((s) => s.name === $("style").value);
  const box = $("instruments");
  box.querySelectorAll("label").forEach((l) => l.remove());
  for (const inst of style ? style.instruments : state.model.any_style) {
    const label = document.createElement("label");
    const cb = Object.assign(document.createElement("input"), { type: "checkbox", value: inst.value, name: "instrument" });
    label.append(cb, inst.name);
    box.append(label);
  }
  $("guidance").placeholder = style ? `model: ${style.guidance}` : "model";
}

async function init() {
  try {
    state.model = await api("GET", "/api/model");
  } catch (e) { showMessage(e.message); return; }
  const sel = $("style");
  sel.append(Object.assign(document.createElement("option"), { value: "", textContent: "none (unconditioned)" }));
  for (const s of state.model.styles) sel.append(Object.assign(document.createElement("option"), { value: s.name, textContent: s.name }));
  if (state.model.styles.some((s) => s.name === "jazz")) sel.value = "jazz";
  sel.onchange = fillInstruments;
  for (const m of state.model.meters) $("meter").append(Object.assign(document.createElement("option"), { value: m, textContent: m }));
  const t = state.model.temperature;  // left empty: each action's own default
  $("temperature").placeholder = `${t.default}; arrange ${t.arrange}`;
  fillInstruments();
  updateActions();
  drawRoll();
  await loadTakes().catch((e) => showMessage(e.message));
  studio.ready = true;
}
init();
