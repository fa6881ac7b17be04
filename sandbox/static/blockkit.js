// Block Kit, rendered the way Slack's client shows it, closely enough to use every control the bot posts.
// https://docs.slack.dev/reference/block-kit/blocks — https://docs.slack.dev/reference/block-kit/block-elements
//
// ctx: { names, onLink(a, href), act(action) -> Promise, suggest(action_id, block_id, value) -> Promise<options>,
//        inputs: Map (block_id -> action_id -> () => state value), errors: {block_id: message} }

import { emojify, mrkdwn, safeUrl, textObject } from "./mrkdwn.js";

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function plain(obj) {
  return emojify(obj && obj.text ? obj.text : "");
}

function flatOptions(element) {
  if (element.options) return element.options;
  return (element.option_groups || []).flatMap((group) => group.options || []);
}

function sameOption(a, b) {
  return a && b && a.value === b.value;
}

function actionOf(element, block, extra) {
  return { action_id: element.action_id, block_id: block.block_id, type: element.type, ...extra };
}

function register(ctx, block, element, getter) {
  if (!ctx.inputs || !block.block_id || !element.action_id) return;
  if (!ctx.inputs.has(block.block_id)) ctx.inputs.set(block.block_id, new Map());
  ctx.inputs.get(block.block_id).set(element.action_id, getter);
}

// -- elements

function button(element, block, ctx) {
  const node = el("button", "bk-button" + (element.style ? " " + element.style : ""), plain(element.text));
  node.type = "button";
  node.dataset.actionId = element.action_id || "";
  node.addEventListener("click", async () => {
    if (element.confirm && !window.confirm(plain(element.confirm.text) || "Are you sure?")) return;
    const href = element.url ? safeUrl(element.url) : null;
    if (href && !ctx.openLink?.(href)) window.open(href, "_blank", "noopener,noreferrer");
    const extra = { text: element.text };
    if (element.value !== undefined) extra.value = element.value;
    node.disabled = true;
    try {
      await ctx.act(actionOf(element, block, extra));
    } finally {
      node.disabled = false;
    }
  });
  return node;
}

function staticSelect(element, block, ctx, live) {
  const select = el("select", "bk-select");
  select.setAttribute("aria-label", plain(element.placeholder) || "Select");
  select.dataset.actionId = element.action_id || "";
  select.append(new Option(plain(element.placeholder) || "Select…", ""));
  const options = flatOptions(element);
  for (const option of options) {
    const item = new Option(plain(option.text), option.value);
    item.selected = sameOption(option, element.initial_option);
    select.append(item);
  }
  const chosen = () => options.find((o) => o.value === select.value) || null;
  register(ctx, block, element, () => ({ type: element.type, selected_option: chosen() }));
  if (live) {
    select.addEventListener("change", () => {
      if (chosen()) ctx.act(actionOf(element, block, { selected_option: chosen() }));
    });
  }
  return select;
}

function multiStaticSelect(element, block, ctx, live) {
  const box = el("details", "bk-multi");
  box.dataset.actionId = element.action_id || "";
  const summary = box.appendChild(el("summary"));
  const list = box.appendChild(el("div", "bk-multi-options"));
  const options = flatOptions(element);
  const initial = new Set((element.initial_options || []).map((o) => o.value));
  const boxes = options.map((option) => {
    const label = list.appendChild(el("label", "bk-check"));
    const input = label.appendChild(el("input"));
    input.type = "checkbox";
    input.value = option.value;
    input.checked = initial.has(option.value);
    label.append(" " + plain(option.text));
    return input;
  });
  const selected = () => options.filter((o, i) => boxes[i].checked);
  const describe = () => {
    const names = selected().map((o) => plain(o.text));
    summary.textContent = names.length ? names.join(", ") : plain(element.placeholder) || "Select…";
  };
  describe();
  boxes.forEach((b) => b.addEventListener("change", describe));
  register(ctx, block, element, () => ({ type: element.type, selected_options: selected() }));
  if (live) {
    const apply = list.appendChild(el("button", "bk-button primary small", "Apply"));
    apply.type = "button";
    apply.addEventListener("click", () => {
      box.open = false;
      ctx.act(actionOf(element, block, { selected_options: selected() }));
    });
  }
  return box;
}

function externalSelect(element, block, ctx, live, multi) {
  const box = el("div", "bk-external");
  box.dataset.actionId = element.action_id || "";
  const chosenList = box.appendChild(el("div", "bk-chosen"));
  const input = box.appendChild(el("input", "bk-search"));
  input.type = "search";
  input.placeholder = plain(element.placeholder) || "Type to search…";
  input.setAttribute("aria-label", input.placeholder);
  const results = box.appendChild(el("ul", "bk-suggestions"));
  let chosen = multi ? [...(element.initial_options || [])] : element.initial_option ? [element.initial_option] : [];
  const minLength = element.min_query_length ?? 3;
  const showChosen = () => {
    chosenList.replaceChildren(
      ...chosen.map((option) => {
        const chip = el("span", "chip", plain(option.text));
        const remove = chip.appendChild(el("button", "chip-remove", "×"));
        remove.type = "button";
        remove.setAttribute("aria-label", "Remove " + plain(option.text));
        remove.addEventListener("click", () => {
          chosen = chosen.filter((o) => o.value !== option.value);
          showChosen();
        });
        return chip;
      }),
    );
  };
  showChosen();
  let timer = null;
  let asked = 0;
  const search = () => {
    const query = input.value;
    if (query.length < minLength) {
      results.replaceChildren();
      return;
    }
    const mine = ++asked;
    ctx.suggest(element.action_id, block.block_id, query).then((options) => {
      if (mine !== asked) return;
      results.replaceChildren(
        ...(options.length ? options : [null]).map((option) => {
          const item = el("li");
          if (!option) {
            item.append(el("span", "muted", "No results"));
            return item;
          }
          const pick = item.appendChild(el("button", "bk-suggestion", plain(option.text)));
          pick.type = "button";
          pick.addEventListener("click", () => {
            chosen = multi ? [...chosen.filter((o) => o.value !== option.value), option] : [option];
            results.replaceChildren();
            input.value = "";
            showChosen();
            if (live) ctx.act(actionOf(element, block, multi ? { selected_options: chosen } : { selected_option: option }));
          });
          return item;
        }),
      );
    });
  };
  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(search, 200);
  });
  if (minLength === 0) input.addEventListener("focus", search);
  register(ctx, block, element, () =>
    multi ? { type: element.type, selected_options: chosen } : { type: element.type, selected_option: chosen[0] || null },
  );
  return box;
}

function overflow(element, block, ctx) {
  const box = el("div", "bk-overflow");
  const toggle = box.appendChild(el("button", "bk-button overflow-toggle", "⋯"));
  toggle.type = "button";
  toggle.setAttribute("aria-label", "More actions");
  toggle.dataset.actionId = element.action_id || "";
  const menu = box.appendChild(el("div", "bk-menu"));
  menu.hidden = true;
  toggle.addEventListener("click", () => (menu.hidden = !menu.hidden));
  for (const option of element.options || []) {
    const item = menu.appendChild(el("button", "bk-menu-item", plain(option.text)));
    item.type = "button";
    item.addEventListener("click", () => {
      menu.hidden = true;
      const href = option.url ? safeUrl(option.url) : null;
      if (href && !ctx.openLink?.(href)) window.open(href, "_blank", "noopener,noreferrer");
      ctx.act(actionOf(element, block, { selected_option: option }));
    });
  }
  return box;
}

function picker(element, block, ctx, live, kind) {
  const input = el("input", "bk-picker");
  input.type = kind;
  input.value = (kind === "date" ? element.initial_date : element.initial_time) || "";
  input.setAttribute("aria-label", plain(element.placeholder) || kind);
  const key = kind === "date" ? "selected_date" : "selected_time";
  register(ctx, block, element, () => ({ type: element.type, [key]: input.value || null }));
  if (live) input.addEventListener("change", () => ctx.act(actionOf(element, block, { [key]: input.value })));
  return input;
}

function textInput(element, block, ctx) {
  const multiline = element.multiline && element.type === "plain_text_input";
  const input = el(multiline ? "textarea" : "input", "bk-text");
  if (!multiline) input.type = element.type === "url_text_input" ? "url" : element.type === "email_text_input" ? "email" : "text";
  if (multiline) input.rows = 4;
  input.value = element.initial_value || "";
  if (element.max_length) input.maxLength = element.max_length;
  if (element.placeholder) input.placeholder = plain(element.placeholder);
  register(ctx, block, element, () => ({ type: element.type, value: input.value === "" ? null : input.value }));
  return input;
}

function conversationsSelect(element, block, ctx, live, multi) {
  const names = Object.entries(ctx.names.channels).sort((a, b) => a[1].localeCompare(b[1]));
  const fake = {
    ...element,
    type: multi ? "multi_static_select" : "static_select",
    options: names.map(([id, name]) => ({ text: { type: "plain_text", text: "#" + name }, value: id })),
  };
  const initial = multi ? element.initial_conversations || [] : [element.initial_conversation].filter(Boolean);
  if (multi) fake.initial_options = fake.options.filter((o) => initial.includes(o.value));
  else fake.initial_option = fake.options.find((o) => initial.includes(o.value));
  const scratch = { ...ctx, inputs: new Map() };
  const node = multi ? multiStaticSelect(fake, block, scratch, false) : staticSelect(fake, block, scratch, false);
  const getter = scratch.inputs.get(block.block_id)?.get(element.action_id);
  const pick = () => {
    const state = getter ? getter() : {};
    return multi
      ? { type: element.type, selected_conversations: (state.selected_options || []).map((o) => o.value) }
      : { type: element.type, selected_conversation: state.selected_option ? state.selected_option.value : null };
  };
  register(ctx, block, element, pick);
  if (live) node.addEventListener("change", () => ctx.act(actionOf(element, block, pick())));
  return node;
}

function choices(element, block, ctx, live, multi) {
  const box = el("div", "bk-choices");
  const initial = new Set(
    (multi ? element.initial_options || [] : [element.initial_option].filter(Boolean)).map((o) => o.value),
  );
  const name = "r" + Math.random().toString(36).slice(2);
  const inputs = (element.options || []).map((option) => {
    const label = box.appendChild(el("label", "bk-check"));
    const input = label.appendChild(el("input"));
    input.type = multi ? "checkbox" : "radio";
    input.name = name;
    input.checked = initial.has(option.value);
    label.append(" ");
    label.append(textObject(option.text, ctx));
    return input;
  });
  const selected = () => (element.options || []).filter((o, i) => inputs[i].checked);
  const state = () =>
    multi ? { type: element.type, selected_options: selected() } : { type: element.type, selected_option: selected()[0] || null };
  register(ctx, block, element, state);
  if (live) inputs.forEach((i) => i.addEventListener("change", () => ctx.act(actionOf(element, block, state()))));
  return box;
}

function image(element) {
  const src = safeUrl(element.image_url || "");
  if (!src) return el("span", "muted", element.alt_text || "[image]");
  const img = el("img", "bk-image");
  img.src = src;
  img.alt = element.alt_text || "";
  img.loading = "lazy";
  return img;
}

export function element(element, block, ctx, live = true) {
  switch (element.type) {
    case "button":
      return button(element, block, ctx);
    case "static_select":
      return staticSelect(element, block, ctx, live);
    case "multi_static_select":
      return multiStaticSelect(element, block, ctx, live);
    case "external_select":
      return externalSelect(element, block, ctx, live, false);
    case "multi_external_select":
      return externalSelect(element, block, ctx, live, true);
    case "overflow":
      return overflow(element, block, ctx);
    case "datepicker":
      return picker(element, block, ctx, live, "date");
    case "timepicker":
      return picker(element, block, ctx, live, "time");
    case "plain_text_input":
    case "url_text_input":
    case "email_text_input":
    case "number_input":
      return textInput(element, block, ctx);
    case "conversations_select":
    case "channels_select":
      return conversationsSelect(element, block, ctx, live, false);
    case "multi_conversations_select":
    case "multi_channels_select":
      return conversationsSelect(element, block, ctx, live, true);
    case "checkboxes":
      return choices(element, block, ctx, live, true);
    case "radio_buttons":
      return choices(element, block, ctx, live, false);
    case "image":
      return image(element);
    default:
      return el("span", "muted", `[${element.type}]`);
  }
}

// -- blocks

function richText(block) {
  const out = [];
  const walk = (node) => {
    if (!node) return;
    if (node.type === "text") out.push(node.text || "");
    else if (node.type === "link") out.push(node.text || node.url || "");
    else if (node.type === "emoji") out.push(":" + node.name + ":");
    (node.elements || []).forEach(walk);
    if (["rich_text_section", "rich_text_preformatted", "rich_text_quote"].includes(node.type)) out.push("\n");
  };
  (block.elements || []).forEach(walk);
  return el("div", "bk-rich", emojify(out.join("").trim()));
}

export function renderBlock(block, ctx) {
  const node = el("div", "bk bk-" + block.type);
  if (block.block_id) node.dataset.blockId = block.block_id;
  switch (block.type) {
    case "header":
      node.append(el("h3", "", plain(block.text)));
      break;
    case "section": {
      const body = node.appendChild(el("div", "bk-section-body"));
      if (block.text) body.append(textObject(block.text, ctx));
      if (block.fields) {
        const grid = body.appendChild(el("div", "bk-fields"));
        block.fields.forEach((f) => grid.append(textObject(f, ctx)));
      }
      if (block.accessory) node.appendChild(el("div", "bk-accessory")).append(element(block.accessory, block, ctx));
      break;
    }
    case "context":
      (block.elements || []).forEach((e) => node.append(e.type === "image" ? image(e) : textObject(e, ctx)));
      break;
    case "divider":
      node.append(el("hr"));
      break;
    case "image": {
      if (block.title) node.append(el("div", "bk-image-title", plain(block.title)));
      node.append(image(block));
      break;
    }
    case "actions":
      (block.elements || []).forEach((e) => node.append(element(e, block, ctx)));
      break;
    case "input": {
      const label = node.appendChild(el("label", "bk-label"));
      label.append(plain(block.label));
      if (block.optional) label.append(el("span", "muted", " (optional)"));
      const live = Boolean(block.dispatch_action);
      node.append(element(block.element, block, ctx, live));
      if (block.hint) node.append(el("div", "bk-hint", plain(block.hint)));
      const error = ctx.errors && ctx.errors[block.block_id];
      if (error) node.append(el("div", "bk-error", error));
      break;
    }
    case "rich_text":
      node.append(richText(block));
      break;
    default:
      node.append(el("span", "muted", `[${block.type} block]`));
  }
  return node;
}

export function renderBlocks(blocks, ctx) {
  const root = el("div", "blocks");
  (blocks || []).forEach((block) => root.append(renderBlock(block, ctx)));
  return root;
}

export function stateValues(inputs) {
  const values = {};
  for (const [blockId, actions] of inputs) {
    values[blockId] = {};
    for (const [actionId, getter] of actions) values[blockId][actionId] = getter();
  }
  return values;
}

export { mrkdwn };
