// The playground page: a miniature Slack client for the local workspace. Plain JS, no libraries.
// The server renders every message to safe HTML; this script places items, follows live changes (server-sent
// events) and turns typing and clicks into calls to the playground's JSON API.
"use strict";

const state = {
  items: new Map(),          // key -> {key, channel, thread, sort, html}
  conversations: [],
  home: "",
  engine: "",
  jobs: "",
  me: "",
  current: null,             // conversation id
  view: "conversation",      // or "home"
  thread: null,              // {channel, ts} of the open thread
  homeRequested: false,
};

const $ = (id) => document.getElementById(id);

// -- live updates ---------------------------------------------------------------------------------------

function connect() {
  const source = new EventSource("/events");
  source.addEventListener("reset", (event) => {
    const data = JSON.parse(event.data);
    state.items = new Map(data.items.map((item) => [item.key, item]));
    state.conversations = data.conversations;
    state.home = data.home;
    state.engine = data.engine;
    state.jobs = data.jobs || "";
    state.me = data.me;
    state.modal = data.modal || "";
    if (!state.current || !state.conversations.some((c) => c.id === state.current)) {
      const wanted = decodeURIComponent(location.hash.slice(1));
      const found = state.conversations.find((c) => c.id === wanted || c.name === wanted);
      state.current = (found || state.conversations[0] || {}).id || null;
      if ((conversation(state.current) || {}).is_im) post("/api/dm", {}).catch(() => {});  // opened by its link
    }
    renderAll(false);
  });
  source.addEventListener("patch", (event) => {
    const patch = JSON.parse(event.data);
    const added = [];
    const changed = [];
    for (const item of patch.upsert || []) {
      const before = state.items.get(item.key);
      if (!before) added.push(item); else if (before.html !== item.html) changed.push(item);
      state.items.set(item.key, item);
    }
    for (const key of patch.remove || []) state.items.delete(key);
    if (patch.conversations) state.conversations = patch.conversations;
    if (patch.home !== undefined) state.home = patch.home;
    if (patch.engine !== undefined) state.engine = patch.engine;
    if (patch.jobs !== undefined) state.jobs = patch.jobs;
    if (patch.modal !== undefined) state.modal = patch.modal;
    renderAll(patch.conversations !== undefined);
    announce(added);
    announceSettled(changed);
  });
  source.onopen = () => { $("connection").textContent = ""; };
  source.onerror = () => { $("connection").textContent = "Reconnecting to the playground…"; };
}

// -- rendering ------------------------------------------------------------------------------------------

function renderAll(sidebarChanged) {
  $("engine").textContent = state.engine;
  $("jobs").textContent = state.jobs;
  $("jobs").hidden = !state.jobs;
  $("me").textContent = state.me;
  renderSidebar();
  renderMain();
  renderThread();
  renderModal();
  void sidebarChanged;
}

function renderSidebar() {
  const fill = (list, conversations) => {
    const wanted = conversations.map((c) => c.id).join(",");
    if (list.dataset.ids !== wanted) {
      list.replaceChildren(...conversations.map((c) => {
        const li = document.createElement("li");
        const button = document.createElement("button");
        button.type = "button";
        button.className = "nav-item";
        button.dataset.conversation = c.id;
        button.textContent = c.is_im ? c.name : "# " + c.name;
        li.append(button);
        return li;
      }));
      list.dataset.ids = wanted;
    }
    for (const button of list.querySelectorAll("button")) {
      const active = state.view === "conversation" && button.dataset.conversation === state.current;
      if (active) button.setAttribute("aria-current", "page"); else button.removeAttribute("aria-current");
    }
  };
  fill($("channel-list"), state.conversations.filter((c) => !c.is_im));
  fill($("dm-list"), state.conversations.filter((c) => c.is_im));
  const home = $("home-button");
  if (state.view === "home") home.setAttribute("aria-current", "page"); else home.removeAttribute("aria-current");
}

function conversation(id) {
  return state.conversations.find((c) => c.id === id);
}

function title(c) {
  return c ? (c.is_im ? c.name : "#" + c.name) : "";
}

function renderMain() {
  const isHome = state.view === "home";
  $("messages").hidden = isHome;
  $("composer").hidden = isHome;
  $("home").hidden = !isHome;
  if (isHome) {
    $("conversation-title").textContent = "Team AI — Home";
    $("conversation-topic").textContent = "";
    const html = state.home || (state.homeRequested
      ? '<p class="empty">Waiting for the bot to publish its Home tab…</p>'
      : '<p class="empty">The bot has not published a Home tab yet.</p>');
    if ($("home").dataset.html !== html) {
      $("home").innerHTML = html;
      $("home").dataset.html = html;
    }
    return;
  }
  const c = conversation(state.current);
  $("conversation-title").textContent = title(c);
  $("conversation-topic").textContent = c ? c.topic : "";
  $("composer-label").textContent = "Message " + title(c);
  const items = [...state.items.values()].filter((i) => i.channel === state.current && !i.thread);
  place($("messages"), items, "Nothing here yet. Say something!");
}

function renderThread() {
  const pane = $("thread");
  if (!state.thread) { pane.hidden = true; return; }
  pane.hidden = false;
  const { channel, ts } = state.thread;
  $("thread-title").textContent = "Thread in " + title(conversation(channel));
  const items = [...state.items.values()].filter(
    (i) => i.channel === channel && (i.thread === ts || (!i.thread && i.key === "m:" + channel + ":" + ts)));
  place($("thread-messages"), items, "");
}

// Put `items` (sorted by time) into `container`, touching only the elements that changed, and keep the
// keyboard focus and the reader's scroll position (stay at the bottom when they were there).
function place(container, items, emptyText) {
  items.sort((a, b) => parseFloat(a.sort) - parseFloat(b.sort) || (a.key < b.key ? -1 : 1));
  const atBottom = container.scrollHeight - container.scrollTop - container.clientHeight < 40;
  const focused = container.contains(document.activeElement) ? document.activeElement.dataset.focusKey : null;
  const existing = new Map();
  for (const child of [...container.children]) {
    if (child.dataset.itemKey) existing.set(child.dataset.itemKey, child); else child.remove();
  }
  let previous = null;
  for (const item of items) {
    let element = existing.get(item.key);
    existing.delete(item.key);
    if (!element) {
      element = document.createElement("div");
      element.className = "item";
      element.dataset.itemKey = item.key;
    }
    if (element.dataset.html !== item.html) {
      element.innerHTML = item.html;
      element.dataset.html = item.html;
    }
    const expected = previous ? previous.nextSibling : container.firstChild;
    if (element !== expected) container.insertBefore(element, expected);
    previous = element;
  }
  for (const stale of existing.values()) stale.remove();
  if (!items.length && emptyText) {
    const empty = document.createElement("p");
    empty.className = "empty";
    empty.textContent = emptyText;
    container.append(empty);
  }
  if (focused && !container.contains(document.activeElement)) {
    const again = [...container.querySelectorAll("[data-focus-key]")].find((e) => e.dataset.focusKey === focused);
    if (again) again.focus();
  }
  if (atBottom) container.scrollTop = container.scrollHeight;
}

function isVisible(i) {
  return (state.view === "conversation" && i.channel === state.current && !i.thread)
    || (state.thread && i.channel === state.thread.channel && i.thread === state.thread.ts);
}

function spoken(i, limit) {
  const node = document.createElement("div");
  node.innerHTML = i.html;
  return node.textContent.replace(/\s+/g, " ").trim().slice(0, limit);
}

function announce(added) {
  const visible = added.filter(isVisible);
  if (!visible.length) return;
  $("announcer").textContent = "New message: " + visible.map((i) => spoken(i, 200)).join(". ");
}

// A message edited in place ("Summarizing…" becoming the summary, an answer growing) is read out once it has
// stopped changing for a moment, so the reader hears the result rather than every step or only the first.
const SETTLE_MS = 1200;
const settling = new Map();  // key -> timer
function announceSettled(changed) {
  for (const item of changed.filter(isVisible)) {
    clearTimeout(settling.get(item.key));
    settling.set(item.key, setTimeout(() => {
      settling.delete(item.key);
      const now = state.items.get(item.key);
      if (now && isVisible(now)) $("announcer").textContent = "Updated message: " + spoken(now, 600);
    }, SETTLE_MS));
  }
}

// -- navigation -----------------------------------------------------------------------------------------

function openConversation(id) {
  state.view = "conversation";
  state.current = id;
  history.replaceState(null, "", "#" + id);
  if ((conversation(id) || {}).is_im) post("/api/dm", {}).catch(() => {});  // Slack's agent DM: prompts
  renderAll(false);
  const list = $("messages");
  list.scrollTop = list.scrollHeight;
  $("composer-input").focus();
}

function openHome() {
  state.view = "home";
  state.homeRequested = true;
  renderAll(false);
  $("home").focus();
  post("/api/home", {}).catch(() => {});
}

function openThread(channel, ts) {
  state.thread = { channel, ts, opener: document.activeElement && document.activeElement.dataset.focusKey };
  renderThread();
  $("thread-input").focus();
  scrollToNewest($("thread-messages"));
}

// Show the newest message: now, and again once the layout has settled (the pane has just appeared).
function scrollToNewest(list) {
  const bottom = () => { list.scrollTop = list.scrollHeight; };
  bottom();
  requestAnimationFrame(() => requestAnimationFrame(bottom));
}

function closeThread() {
  const opener = state.thread && state.thread.opener;
  state.thread = null;
  renderThread();
  const back = opener && [...document.querySelectorAll("[data-focus-key]")].find((e) => e.dataset.focusKey === opener);
  (back || $("composer-input")).focus();
}

// -- talking to the server ------------------------------------------------------------------------------

async function post(path, body) {
  const response = await fetch(path, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  });
  const answer = await response.json().catch(() => ({ ok: false, error: "The playground did not answer." }));
  if (!answer.ok) throw new Error(answer.error || "Something went wrong.");
  return answer;
}

function wireComposer(form, input, error, target) {
  const submit = async () => {
    const text = input.value.trim();
    if (!text || form.dataset.busy) return;
    form.dataset.busy = "1";
    error.textContent = "";
    try {
      await post("/api/send", { text, ...target() });
      input.value = "";
    } catch (problem) {
      error.textContent = problem.message;
    } finally {
      delete form.dataset.busy;
    }
  };
  form.addEventListener("submit", (event) => { event.preventDefault(); submit(); });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) { event.preventDefault(); submit(); }
  });
}

document.addEventListener("click", async (event) => {
  const button = event.target.closest("button");
  if (!button) return;
  if (button.dataset.conversation) { openConversation(button.dataset.conversation); return; }
  if (button.id === "home-button") { openHome(); return; }
  if (button.id === "thread-close") { closeThread(); return; }
  if (button.dataset.openThread) { openThread(button.dataset.channel, button.dataset.openThread); return; }
  if (button.classList.contains("action")) {
    if (button.getAttribute("aria-disabled") === "true") return;
    button.setAttribute("aria-disabled", "true");
    const errorBox = button.closest("#thread") ? $("thread-error") : $("composer-error");
    try {
      await post("/api/action", {
        channel: button.dataset.channel, ts: button.dataset.ts, action_id: button.dataset.actionId,
        value: button.dataset.value, block_id: button.dataset.blockId, text: button.dataset.label,
      });
      if (button.dataset.actionId.startsWith("home_example")) {  // the answer comes in the DM with the bot
        const dm = state.conversations.find((c) => c.is_im);
        if (dm) openConversation(dm.id);
      }
    } catch (problem) {
      errorBox.textContent = problem.message;
    } finally {
      button.removeAttribute("aria-disabled");
    }
  }
});

window.addEventListener("hashchange", () => {
  const wanted = decodeURIComponent(location.hash.slice(1));
  const found = state.conversations.find((c) => c.id === wanted || c.name === wanted);
  if (found && (found.id !== state.current || state.view !== "conversation")) openConversation(found.id);
});

document.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && state.thread && $("thread").contains(document.activeElement)) closeThread();
});

document.addEventListener("DOMContentLoaded", () => {
  wireComposer($("composer"), $("composer-input"), $("composer-error"), () => ({ channel: state.current }));
  wireComposer($("thread-composer"), $("thread-input"), $("thread-error"),
    () => ({ channel: state.thread.channel, thread_ts: state.thread.ts }));
  connect();
});

// -- Slack's agent surface: suggested prompts and message shortcuts ------------------------------------

document.addEventListener("click", async (event) => {
  const button = event.target.closest("button.prompt, button.shortcut");
  if (!button) return;
  const errorBox = button.closest("#thread") ? $("thread-error") : $("composer-error");
  try {
    if (button.classList.contains("prompt")) {
      const thread = button.dataset.thread;
      await post("/api/send", { channel: button.dataset.channel, text: button.dataset.prompt, ...(thread ? { thread_ts: thread } : {}) });
    } else {
      await post("/api/shortcut", { channel: button.dataset.channel, ts: button.dataset.ts, callback_id: button.dataset.shortcut });
    }
  } catch (problem) {
    errorBox.textContent = problem.message;
  }
});

// -- modals the bot opens (views.open): shown over the page, submitted back as Slack's view_submission --------

function renderModal() {
  const layer = $("modal-layer");
  const html = state.modal || "";
  if ((layer.dataset.html || "") === html) return;  // unchanged (and no modal when the page loads)
  layer.dataset.html = html;
  if (!html) {
    layer.hidden = true;
    layer.replaceChildren();
    setPageInert(false);
    if (state.modalOpener && document.contains(state.modalOpener)) state.modalOpener.focus();
    else $("composer-input").focus();
    return;
  }
  if (layer.hidden) state.modalOpener = document.activeElement;
  layer.innerHTML = html;
  layer.hidden = false;
  setPageInert(true);
  const first = layer.querySelector("textarea, input, select, button");
  if (first) first.focus();
}

// While a modal is open the page behind it is inert, as Slack's modals are: keyboard focus and screen readers
// stay in the modal (the live announcer stays outside it, so answers are still heard).
function setPageInert(inert) {
  for (const element of document.body.children) {
    if (element.id !== "modal-layer" && element.id !== "announcer") element.inert = inert;
  }
}

function modalValues(form) {
  const values = {};
  const put = (element, value) => {
    const block = element.dataset.block;
    (values[block] ||= {})[element.dataset.action] = value;
  };
  for (const element of form.querySelectorAll("textarea[data-block], input[data-block]:not([type=radio]), select[data-block]")) {
    put(element, element.multiple ? [...element.selectedOptions].map((o) => o.value) : element.value);
  }
  for (const radio of form.querySelectorAll("input[type=radio][data-block]:checked")) put(radio, radio.value);
  return values;
}

document.addEventListener("submit", async (event) => {
  const form = event.target.closest("form.modal");
  if (!form) return;
  event.preventDefault();
  for (const old of form.querySelectorAll(".field-error")) old.remove();
  try {
    const answer = await post("/api/view", { view_id: form.dataset.viewId, values: modalValues(form) });
    for (const [block, message] of Object.entries(answer.errors || {})) {
      const field = form.querySelector(`[data-block="${CSS.escape(block)}"]`);
      const note = document.createElement("p");
      note.className = "error field-error";
      note.textContent = message;
      (field ? field.closest(".modal-input") || field : form).append(note);
    }
  } catch (problem) {
    form.querySelector(".modal-error").textContent = problem.message;
  }
});

document.addEventListener("click", async (event) => {
  const button = event.target.closest("button.modal-close, button.global-shortcut");
  if (!button) return;
  try {
    if (button.classList.contains("modal-close")) {
      await post("/api/view_close", { view_id: button.closest("form.modal").dataset.viewId });
    } else {
      await post("/api/shortcut", { callback_id: button.dataset.globalShortcut });
    }
  } catch (problem) {
    $("composer-error").textContent = problem.message;
  }
});

document.addEventListener("keydown", (event) => {
  const form = document.querySelector("#modal-layer form.modal");
  if (event.key === "Escape" && form) post("/api/view_close", { view_id: form.dataset.viewId }).catch(() => {});
  if (event.key === "Tab" && form) {  // Tab and Shift+Tab go round the modal's fields and buttons
    const stops = [...form.querySelectorAll("textarea, input, select, button")].filter((e) => !e.disabled);
    if (!stops.length) return;
    const [first, last] = [stops[0], stops[stops.length - 1]];
    const inside = form.contains(document.activeElement);
    if (!inside || (event.shiftKey ? document.activeElement === first : document.activeElement === last)) {
      event.preventDefault();
      (event.shiftKey ? last : first).focus();
    }
  }
});
