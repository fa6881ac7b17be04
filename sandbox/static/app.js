// The sandbox page: shows the fake workspace as one person sees it and sends what they do to the sandbox
// server, which signs it and sends it to the bot as Slack (or Jira, or a web form) would.
// State comes from GET /sandbox/api/state, re-read whenever /sandbox/api/events says the revision changed.

import { renderBlocks, stateValues } from "./blockkit.js";
import { emojify, mrkdwn } from "./mrkdwn.js";

const ui = {
  me: null,
  channel: null,
  view: "channel", // "channel" | "home"
  thread: null, // ts of the open thread
  data: null,
  cache: new Map(), // message key -> { json, node }
  modalKey: null,
  modalInputs: null,
  populated: false,
  focusJira: null,
  customersJson: null, // what the Customers panel shows now: re-drawn only when it changes
  drafts: new Map(), // "email:3" -> what is typed in its answer box
};

const $ = (id) => document.getElementById(id);

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function toast(text, kind = "info") {
  const node = el("div", "toast " + kind, text);
  $("toasts").append(node);
  setTimeout(() => node.remove(), kind === "error" ? 8000 : 4000);
}

// Given by the server with the page: every API request carries it (see sandbox/page.py).
const TOKEN = document.querySelector('meta[name="sandbox-token"]').content;

async function post(path, body) {
  const response = await fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-Sandbox-Token": TOKEN },
    body: JSON.stringify(body),
  });
  let data = {};
  try {
    data = await response.json();
  } catch {
    data = { ok: false, detail: `HTTP ${response.status}` };
  }
  if (!response.ok || (data.ok === false && !data.errors)) {
    toast(data.detail || `Failed (HTTP ${response.status})`, "error");
  }
  scheduleRefresh();
  return data;
}

// -- state

let inflight = false;
let again = false;

async function refresh() {
  if (inflight) {
    again = true;
    return;
  }
  inflight = true;
  try {
    const query = new URLSearchParams();
    if (ui.me) query.set("as", ui.me);
    if (ui.channel) query.set("channel", ui.channel);
    const response = await fetch("/sandbox/api/state?" + query, { headers: { "X-Sandbox-Token": TOKEN } });
    const data = await response.json();
    ui.data = data;
    ui.me = data.me;
    if (!ui.channel && data.conversation) ui.channel = data.conversation.id;
    render(data);
  } finally {
    inflight = false;
    if (again) {
      again = false;
      refresh();
    }
  }
}

let timer = null;
function scheduleRefresh() {
  clearTimeout(timer);
  timer = setTimeout(refresh, 50);
}

// -- links the fake services made: open them here instead of on the internet

function jiraKeyOf(href) {
  const base = ui.data && ui.data.jira.base_url;
  if (!base || !href.startsWith(base + "/browse/")) return null;
  return href.slice((base + "/browse/").length).split(/[?#]/)[0];
}

function openLink(href) {
  const key = jiraKeyOf(href);
  if (key) {
    ui.focusJira = key;
    showTab("jira");
    renderJira(ui.data);
    return true;
  }
  const slack = href.match(/^https:\/\/fake\.slack\.com\/archives\/([A-Z0-9]+)\/p(\d{10})(\d{6})(?:\?thread_ts=([\d.]+))?/);
  if (slack) {
    const [, channel, sec, micro, threadTs] = slack;
    ui.channel = channel;
    ui.view = "channel";
    ui.thread = threadTs || `${sec}.${micro}`;
    showTab("thread");
    refresh();
    return true;
  }
  return false;
}

function onLink(anchor, href) {
  anchor.addEventListener("click", (event) => {
    if (openLink(href)) event.preventDefault();
  });
}

function ctxFor(surface, inputs = null) {
  const data = ui.data;
  const where = () => ({ ...surface, values: inputs ? stateValues(inputs) : {} });
  return {
    names: data.names,
    onLink,
    openLink,
    inputs,
    act: (action) => post("/sandbox/api/action", { as: ui.me, surface: where(), action }),
    suggest: async (action_id, block_id, value) => {
      const answer = await post("/sandbox/api/suggest", { as: ui.me, surface: where(), action_id, block_id, value });
      if (answer.options) return answer.options;
      return (answer.option_groups || []).flatMap((g) => g.options || []);
    },
  };
}

// -- rendering

function render(data) {
  renderTop(data);
  renderChannels(data);
  if (ui.view === "home") renderHome(data);
  else renderConversation(data);
  renderThread(data);
  renderJira(data);
  renderCustomers(data);
  renderModal(data);
}

function renderTop(data) {
  const acting = $("acting");
  if (acting.options.length !== data.people.length) {
    acting.replaceChildren(...data.people.map((p) => new Option(`${p.real_name} (${p.title})`, p.id)));
  }
  acting.value = data.me;
  $("contracts").textContent = data.contracts_checked
    ? "Every Slack and Jira call is checked against ../shared/contracts."
    : "../shared/contracts not found: calls are not contract-checked.";
  const box = $("violations");
  box.hidden = !data.violations.length;
  box.replaceChildren(
    ...(data.violations.length ? [el("strong", "", "Contract violations (a bug in the bot): ")] : []),
    ...data.violations.map((v) => el("div", "", v)),
  );
  if (!ui.populated) {
    populateIntake(data);
    ui.populated = true;
  }
}

function renderChannels(data) {
  const list = $("channels");
  list.replaceChildren(
    ...data.channels.map((channel) => {
      const item = el("li");
      const link = item.appendChild(el("button", "nav-item", (channel.kind === "dm" ? "💬 " : "# ") + channel.name));
      link.type = "button";
      link.dataset.testid = "channel-" + channel.name;
      if (channel.count) link.append(el("span", "count", String(channel.count)));
      link.classList.toggle("active", ui.view === "channel" && channel.id === ui.channel);
      link.addEventListener("click", () => {
        ui.channel = channel.id;
        ui.view = "channel";
        ui.thread = null;
        refresh();
      });
      return item;
    }),
  );
  $("home-nav").classList.toggle("active", ui.view === "home");
}

function timeOf(ts) {
  const date = new Date(Number(ts) * 1000);
  return date.toLocaleString(undefined, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
}

function author(data, message) {
  if (message.user === data.bot_user_id || message.bot_id) return { name: "Supportbridge", app: true };
  const person = data.people.find((p) => p.id === message.user);
  return { name: person ? person.real_name : message.user, app: false };
}

function sharedFile(file) {
  // A file the bot uploaded (the digest's trend chart): images inline with their alt text, others by name.
  if (!String(file.mimetype || "").startsWith("image/")) return el("div", "muted", `📎 ${file.title || file.name || "file"}`);
  const figure = el("figure", "shared-file");
  const img = figure.appendChild(el("img", "bk-image"));
  img.src = `/sandbox/api/files/${encodeURIComponent(file.id)}?token=${encodeURIComponent(TOKEN)}`;
  img.alt = file.alt_txt || file.title || "";
  figure.append(el("figcaption", "muted", file.title || file.name || ""));
  return figure;
}

function messageNode(data, message, { ephemeral = false, inThread = false } = {}) {
  const node = el("article", "message" + (ephemeral ? " ephemeral" : ""));
  node.dataset.ts = message.ts;
  const head = node.appendChild(el("div", "message-head"));
  const who = author(data, message);
  head.append(el("span", "author", who.name));
  if (who.app) head.append(el("span", "badge", "APP"));
  head.append(el("time", "time", timeOf(message.ts)));
  if (ephemeral) head.append(el("span", "only-you", "Only visible to you"));
  if (message.edited) head.append(el("span", "muted", "(edited)"));
  const channel = message.channel || ui.channel;
  const surface = ephemeral ? { kind: "ephemeral", channel, ts: message.ts } : { kind: "message", channel, ts: message.ts };
  if (message.blocks && message.blocks.length) node.append(renderBlocks(message.blocks, ctxFor(surface)));
  else node.append(mrkdwn(message.text, ctxFor(surface)));
  (message.files || []).forEach((file) => node.append(sharedFile(file)));
  if (message.reactions && message.reactions.length) {
    const row = node.appendChild(el("div", "reactions"));
    message.reactions.forEach((r) => row.append(el("span", "reaction", `${emojify(":" + r.name + ":")} ${r.count}`)));
  }
  const tools = node.appendChild(el("div", "message-tools"));
  if (!inThread && !ephemeral && message.replies && message.replies.length) {
    const open = tools.appendChild(el("button", "link-button", `${message.replies.length} ${message.replies.length === 1 ? "reply" : "replies"}`));
    open.type = "button";
    open.dataset.testid = "open-thread";
    open.addEventListener("click", () => {
      ui.thread = message.ts;
      showTab("thread");
      renderThread(ui.data);
    });
  } else if (!inThread && !ephemeral && who.app) {
    const open = tools.appendChild(el("button", "link-button quiet", "Reply in thread"));
    open.type = "button";
    open.addEventListener("click", () => {
      ui.thread = message.ts;
      showTab("thread");
      renderThread(ui.data);
    });
  }
  if (!who.app && !ephemeral) {
    const log = tools.appendChild(el("button", "link-button", "Log as customer issue"));
    log.type = "button";
    log.title = "The message shortcut (⋮ → Log as customer issue)";
    log.addEventListener("click", () =>
      post("/sandbox/api/shortcut", { as: ui.me, channel, ts: message.ts, callback_id: "issue.log_message" }),
    );
    const react = tools.appendChild(el("button", "link-button", `React ${emojify(":" + data.intake.reaction + ":")}`));
    react.type = "button";
    react.addEventListener("click", () => post("/sandbox/api/react", { as: ui.me, channel, ts: message.ts }));
  }
  return node;
}

function cached(key, json, build) {
  const hit = ui.cache.get(key);
  if (hit && hit.json === json) return hit.node;
  const node = build();
  ui.cache.set(key, { json, node });
  return node;
}

function renderConversation(data) {
  $("home").hidden = true;
  $("messages").hidden = false;
  $("composer").hidden = false;
  const conversation = data.conversation;
  if (!conversation) return;
  $("conversation-title").textContent = conversation.kind === "dm" ? "💬 Supportbridge" : "# " + conversation.name;
  $("conversation-hint").textContent = conversation.kind === "dm" ? "Direct messages from the bot" : "";
  const box = $("messages");
  const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 80 || box.dataset.channel !== conversation.id;
  const items = [
    ...conversation.messages.map((m) => ({ m, ephemeral: false })),
    ...conversation.ephemerals.filter((e) => !e.thread_ts).map((m) => ({ m, ephemeral: true })),
  ].sort((a, b) => Number(a.m.ts) - Number(b.m.ts));
  const nodes = items.map(({ m, ephemeral }) =>
    cached(`${conversation.id}:${m.ts}:${ephemeral}:${data.me}`, JSON.stringify(m), () =>
      messageNode(data, { ...m, channel: conversation.id }, { ephemeral }),
    ),
  );
  if (!nodes.length) nodes.push(el("p", "hint", "Nothing here yet. Submit a customer issue, or load the demo data."));
  const current = [...box.children];
  if (current.length !== nodes.length || current.some((n, i) => n !== nodes[i])) box.replaceChildren(...nodes);
  if (atBottom) box.scrollTop = box.scrollHeight;
  box.dataset.channel = conversation.id;
}

function renderHome(data) {
  $("messages").hidden = true;
  $("composer").hidden = true;
  const home = $("home");
  home.hidden = false;
  $("conversation-title").textContent = "🏠 Supportbridge · Home";
  $("conversation-hint").textContent = "The App Home tab, as published with views.publish";
  const view = data.home;
  const json = JSON.stringify(view);
  if (home.dataset.json === json) return;
  home.dataset.json = json;
  if (!view) {
    home.replaceChildren(el("p", "hint", "The bot has not published a Home tab for this person yet."));
    return;
  }
  home.replaceChildren(renderBlocks(view.blocks, ctxFor({ kind: "home", view_id: view.id })));
}

function renderThread(data) {
  const box = $("thread");
  const form = $("thread-composer");
  const conversation = data.conversation;
  const parent = ui.thread && conversation && conversation.messages.find((m) => m.ts === ui.thread);
  if (!parent) {
    form.hidden = true;
    box.replaceChildren(el("p", "hint", "Open a thread with “replies” under a message."));
    return;
  }
  form.hidden = false;
  const ephemerals = conversation.ephemerals.filter((e) => e.thread_ts === ui.thread).map((m) => ({ m, ephemeral: true }));
  const items = [...parent.replies.map((m) => ({ m, ephemeral: false })), ...ephemerals].sort(
    (a, b) => Number(a.m.ts) - Number(b.m.ts),
  );
  const nodes = [
    el("h3", "thread-title", "Thread"),
    cached(`thread:${conversation.id}:${parent.ts}:${data.me}`, JSON.stringify({ ...parent, replies: [] }), () =>
      messageNode(data, { ...parent, channel: conversation.id }, { inThread: true }),
    ),
    el("div", "thread-count", `${parent.replies.length} ${parent.replies.length === 1 ? "reply" : "replies"}`),
    ...items.map(({ m, ephemeral }) =>
      cached(`${conversation.id}:${m.ts}:${ephemeral}:${data.me}:t`, JSON.stringify(m), () =>
        messageNode(data, { ...m, channel: conversation.id }, { ephemeral, inThread: true }),
      ),
    ),
  ];
  const current = [...box.children];
  if (current.length !== nodes.length || current.some((n, i) => n !== nodes[i])) box.replaceChildren(...nodes);
}

function renderJira(data) {
  const box = $("jira");
  const issues = data.jira.issues;
  if (!issues.length) {
    box.replaceChildren(el("p", "hint", "No Jira issues yet. Escalate a card to make one."));
    return;
  }
  box.replaceChildren(
    ...issues.map((issue) => {
      const card = el("div", "jira-issue" + (ui.focusJira === issue.key ? " focus" : ""));
      card.dataset.testid = "jira-issue-" + issue.key;
      const head = card.appendChild(el("div", "jira-head"));
      head.append(el("strong", "jira-key", issue.key));
      head.append(el("span", "pill status-" + issue.status.replace(/\s+/g, "-").toLowerCase(), issue.status));
      if (issue.resolution) head.append(el("span", "pill", issue.resolution));
      card.append(el("div", "jira-summary", issue.summary));
      const meta = [issue.issuetype, issue.priority, ...issue.labels].filter(Boolean).join(" · ");
      card.append(el("div", "muted", meta));
      const moves = card.appendChild(el("div", "jira-moves"));
      for (const move of data.jira.moves) {
        const button = moves.appendChild(el("button", "bk-button small", move));
        button.type = "button";
        button.setAttribute("aria-label", `Move ${issue.key} to ${move}`);
        const current = move === "Won't Do" ? issue.resolution === "Won't Do" : issue.status === move && issue.resolution !== "Won't Do";
        button.disabled = current;
        button.addEventListener("click", async () => {
          const answer = await post(`/sandbox/api/jira/${encodeURIComponent(issue.key)}`, { move });
          if (answer.ok) toast(`${issue.key} → ${move}; Jira's webhook answered ${answer.status}`);
        });
      }
      return card;
    }),
  );
  if (ui.focusJira) box.querySelector(".focus")?.scrollIntoView({ block: "nearest" });
}

// -- the customer's side: the inbox, the helpdesks, the webhook deliveries

function answerBox(where, id, label) {
  const key = `${where}:${id}`;
  const form = el("form", "answer");
  form.autocomplete = "off";
  const input = form.appendChild(el("textarea"));
  input.rows = 2;
  input.maxLength = 4000;
  input.placeholder = "What the customer writes back…";
  input.setAttribute("aria-label", `${label}: the customer's answer`);
  input.value = ui.drafts.get(key) || "";
  input.addEventListener("input", () => ui.drafts.set(key, input.value));
  const send = form.appendChild(el("button", "bk-button small", "Answer as the customer"));
  send.type = "submit";
  send.dataset.testid = `answer-${where}-${id}`;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    send.disabled = true;
    try {
      const answer = await post(`/sandbox/api/customers/${where}/${encodeURIComponent(id)}/answer`, { text });
      if (answer.ok) {
        ui.drafts.delete(key);
        input.value = "";
        toast(answer.status ? `Answered; the ${label} webhook got HTTP ${answer.status}` : `Answer taken into #${answer.id}`);
      }
    } finally {
      send.disabled = false;
    }
  });
  return form;
}

function headerLines(pairs) {
  const list = el("dl", "mail-headers");
  for (const [name, value] of pairs) {
    if (!value) continue;
    list.append(el("dt", "", name), el("dd", "", value));
  }
  return list;
}

function customerSection(title, testid, items, empty) {
  const section = el("section", "customer-section");
  section.dataset.testid = testid;
  section.append(el("h3", "", title));
  if (!items.length) section.append(el("p", "hint", empty));
  else section.append(...items);
  return section;
}

function renderCustomers(data) {
  const side = data.customers;
  const json = JSON.stringify(side);
  if (json === ui.customersJson) return; // nothing new: keep what is being typed, and the focus
  ui.customersJson = json;
  const inbox = side.inbox.map((mail) => {
    const card = el("article", "mail");
    card.dataset.testid = `mail-${mail.number}`;
    card.append(el("div", "mail-subject", mail.subject || "(no subject)"));
    card.append(
      headerLines([
        ["From", mail.from],
        ["To", mail.to],
        ["Reply-To", mail.reply_to],
        ["Date", mail.date],
        ["Message-ID", mail.message_id],
        ["In-Reply-To", mail.in_reply_to],
        ["References", mail.references],
      ]),
    );
    card.append(el("pre", "mail-text", mail.text));
    for (const text of mail.answers) card.append(el("div", "customer-answer", "↩ answered: " + text));
    card.append(answerBox("email", mail.number, "e-mail"));
    return card;
  });
  const intercom = side.intercom.map((conversation) => {
    const card = el("article", "mail");
    card.dataset.testid = `intercom-${conversation.id}`;
    const who = conversation.customer ? `${conversation.customer.name} <${conversation.customer.email}>` : "a customer";
    card.append(el("div", "mail-subject", `Conversation ${conversation.id} · ${who}`));
    for (const part of conversation.parts) {
      const line = card.appendChild(el("div", "part " + (part.author_type === "admin" ? "ours" : "theirs")));
      line.append(el("strong", "", part.ours ? "Supportbridge (admin)" : part.author), " ");
      line.append(el("span", "", part.text));
    }
    card.append(answerBox("intercom", conversation.id, "Intercom"));
    return card;
  });
  const zendesk = side.zendesk.map((ticket) => {
    const card = el("article", "mail");
    card.dataset.testid = `zendesk-${ticket.id}`;
    card.append(el("div", "mail-subject", `#${ticket.id} ${ticket.subject}`));
    const meta = card.appendChild(el("div", "muted"));
    meta.append(el("span", "pill", ticket.status), " ", ticket.customer ? `${ticket.customer.name} <${ticket.customer.email}>` : "");
    for (const comment of ticket.comments) {
      const line = card.appendChild(el("div", "part " + (comment.ours ? "ours" : "theirs")));
      line.append(el("strong", "", comment.author + (comment.public ? "" : " (internal note)")), " ");
      line.append(el("span", "", comment.text));
    }
    if (ticket.status !== "closed") card.append(answerBox("zendesk", ticket.id, "Zendesk"));
    return card;
  });
  const hooks = side.webhooks.deliveries.map((delivery) => {
    const card = el("article", "mail");
    card.append(el("pre", "mail-text", JSON.stringify(delivery, null, 2)));
    return card;
  });
  $("customers").replaceChildren(
    customerSection("E-mail inbox", "customers-inbox", inbox, "No e-mail yet. Reply to an e-mail report from its card."),
    customerSection("Intercom", "customers-intercom", intercom, "No Intercom conversations yet."),
    customerSection("Zendesk", "customers-zendesk", zendesk, "No Zendesk tickets yet."),
    customerSection(
      "Reply webhooks",
      "customers-webhooks",
      hooks,
      `None yet. A web form's replies are POSTed, signed, to ${side.webhooks.url}.`,
    ),
  );
}

function renderModal(data) {
  const root = $("modal-root");
  const view = data.modals[data.modals.length - 1];
  if (!view) {
    ui.modalKey = null;
    root.replaceChildren();
    return;
  }
  const key = `${view.id}:${view.hash}`;
  if (ui.modalKey === key) return;
  ui.modalKey = key;
  ui.modalInputs = new Map();
  const ctx = ctxFor({ kind: "modal", view_id: view.id }, ui.modalInputs);
  const overlay = el("div", "overlay");
  const dialog = overlay.appendChild(el("div", "modal"));
  dialog.setAttribute("role", "dialog");
  dialog.setAttribute("aria-modal", "true");
  dialog.setAttribute("aria-label", (view.title && view.title.text) || "Modal");
  const head = dialog.appendChild(el("div", "modal-head"));
  head.append(el("h2", "", emojify((view.title && view.title.text) || "")));
  const x = head.appendChild(el("button", "modal-x", "×"));
  x.type = "button";
  x.setAttribute("aria-label", "Close");
  const body = dialog.appendChild(el("div", "modal-body"));
  body.append(renderBlocks(view.blocks, ctx));
  const foot = dialog.appendChild(el("div", "modal-foot"));
  const close = () => post("/sandbox/api/close", { as: ui.me, view_id: view.id });
  x.addEventListener("click", close);
  const cancel = foot.appendChild(el("button", "secondary", (view.close && view.close.text) || "Cancel"));
  cancel.type = "button";
  cancel.addEventListener("click", close);
  if (view.submit) {
    const submit = foot.appendChild(el("button", "primary", view.submit.text));
    submit.type = "button";
    submit.dataset.testid = "modal-submit";
    submit.addEventListener("click", async () => {
      submit.disabled = true;
      try {
        const answer = await post("/sandbox/api/submit", { as: ui.me, view_id: view.id, values: stateValues(ui.modalInputs) });
        showErrors(body, answer.errors || {});
      } finally {
        submit.disabled = false;
      }
    });
  }
  root.replaceChildren(overlay);
  body.querySelector("input, textarea, select")?.focus();
}

function showErrors(body, errors) {
  body.querySelectorAll(".bk-error").forEach((n) => n.remove());
  for (const [blockId, message] of Object.entries(errors)) {
    const block = [...body.querySelectorAll(".bk-input")].find((n) => n.dataset.blockId === blockId);
    (block || body).append(el("div", "bk-error", message));
  }
}

// -- the side panel

function showTab(name) {
  document.querySelectorAll(".tab").forEach((t) => t.classList.toggle("active", t.dataset.tab === name));
  for (const tab of ["intake", "jira", "customers", "thread"]) $("tab-" + tab).hidden = tab !== name;
}

function populateIntake(data) {
  const severity = $("intake-severity");
  severity.replaceChildren(...data.intake.severities.map((s) => new Option(s, s, s === "normal", s === "normal")));
  $("intake-tags").replaceChildren(
    ...data.intake.tags.map((tag) => {
      const label = el("label", "bk-check");
      const box = label.appendChild(el("input"));
      box.type = "checkbox";
      box.name = "tags";
      box.value = tag;
      label.append(" " + tag);
      return label;
    }),
  );
}

function wire() {
  document.querySelectorAll(".tab").forEach((tab) => tab.addEventListener("click", () => showTab(tab.dataset.tab)));
  $("acting").addEventListener("change", (event) => {
    ui.me = event.target.value;
    ui.modalKey = null;
    $("home").dataset.json = "";
    if (ui.view === "home") post("/sandbox/api/home", { as: ui.me });
    refresh();
  });
  $("home-nav").addEventListener("click", () => {
    ui.view = "home";
    $("home").dataset.json = "";
    post("/sandbox/api/home", { as: ui.me });
    refresh();
  });
  $("composer").addEventListener("submit", async (event) => {
    event.preventDefault();
    const input = $("composer-text");
    const text = input.value.trim();
    if (!text) return;
    input.value = "";
    await post("/sandbox/api/compose", { as: ui.me, channel: ui.channel, text });
  });
  $("thread-composer").addEventListener("submit", async (event) => {
    event.preventDefault();
    const input = $("thread-text");
    const text = input.value.trim();
    if (!text || !ui.thread) return;
    input.value = "";
    await post("/sandbox/api/compose", { as: ui.me, channel: ui.channel, text, thread_ts: ui.thread });
  });
  $("intake").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.target;
    const fields = Object.fromEntries(new FormData(form));
    fields.tags = [...form.querySelectorAll("input[name=tags]:checked")].map((b) => b.value);
    const answer = await post("/sandbox/api/intake", fields);
    const result = $("intake-result");
    if (answer.ok) {
      result.textContent = `Received as #${answer.id} (HTTP ${answer.status}).`;
      form.reset();
      populateIntake(ui.data);
    } else {
      result.textContent = answer.detail || answer.error || `Refused (HTTP ${answer.status}).`;
    }
  });
  $("demo").addEventListener("click", async (event) => {
    const button = event.target;
    button.disabled = true;
    toast("Loading four weeks of demo issues…");
    try {
      const answer = await post("/sandbox/api/demo", {});
      if (answer.ok) {
        toast(answer.issues ? `Loaded ${answer.issues} issues in ${answer.problems} problems.` : "The demo data is already loaded.");
      }
    } finally {
      button.disabled = false;
    }
  });
  const events = new EventSource("/sandbox/api/events?token=" + encodeURIComponent(TOKEN));
  events.addEventListener("revision", scheduleRefresh);
  events.addEventListener("open", () => document.body.classList.remove("offline"));
  events.addEventListener("error", () => document.body.classList.add("offline"));
}

wire();
refresh();
