// Slack mrkdwn, rendered minimally and safely: every piece of text becomes a text node (never innerHTML),
// links only for http(s) and mailto, and text the bot escaped (&lt;!channel&gt;) shows as typed.
// https://docs.slack.dev/messaging/formatting-message-text

const EMOJI = {
  tada: "🎉", white_check_mark: "✅", warning: "⚠️", ticket: "🎫", red_circle: "🔴",
  large_orange_circle: "🟠", large_yellow_circle: "🟡", large_green_circle: "🟢", large_blue_circle: "🔵",
  white_circle: "⚪", rotating_light: "🚨", fire: "🔥", bell: "🔔", calendar: "📅", spiral_calendar_pad: "🗓️",
  chart_with_upwards_trend: "📈", chart_with_downwards_trend: "📉", bar_chart: "📊", eyes: "👀",
  hourglass_flowing_sand: "⏳", hourglass: "⌛", link: "🔗", memo: "📝", speech_balloon: "💬", mega: "📣",
  rocket: "🚀", package: "📦", bug: "🐛", x: "❌", no_entry: "⛔", arrow_right: "➡️", arrow_up: "⬆️",
  arrow_down: "⬇️", new: "🆕", busts_in_silhouette: "👥", bust_in_silhouette: "👤", wave: "👋",
  heavy_check_mark: "✔️", repeat: "🔁", pushpin: "📌", mag: "🔍", clock1: "🕐", alarm_clock: "⏰",
  thumbsup: "👍", "+1": "👍", thinking_face: "🤔", raising_hand: "🙋", sparkles: "✨", construction: "🚧",
  inbox_tray: "📥", outbox_tray: "📤", email: "📧", envelope: "✉️", telephone_receiver: "📞",
  small_red_triangle: "🔺", small_red_triangle_down: "🔻", arrows_counterclockwise: "🔄", stopwatch: "⏱️",
  handshake: "🤝", label: "🏷️", arrow_forward: "▶️", calling: "📲", busts: "👥", scroll: "📜", date: "📅", person_raising_hand: "🙋", lock: "🔒", zap: "⚡", seedling: "🌱", trophy: "🏆",
};

export function decodeEntities(text) {
  return text.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");
}

export function safeUrl(url) {
  try {
    const parsed = new URL(url);
    return ["http:", "https:", "mailto:"].includes(parsed.protocol) ? parsed.href : null;
  } catch {
    return null;
  }
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function formatDate(epoch, format, fallback) {
  const date = new Date(epoch * 1000);
  if (Number.isNaN(date.getTime())) return fallback;
  const day = date.toLocaleDateString(undefined, { day: "numeric", month: "short", year: "numeric" });
  const time = date.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
  return format
    .replace(/\{date_short_pretty\}|\{date_pretty\}|\{date_long_pretty\}|\{date_short\}|\{date_long\}|\{date\}|\{date_num\}/g, day)
    .replace(/\{time_secs\}|\{time\}/g, time)
    .replace(/\{ago\}/g, day);
}

// An angle-bracket token: <@U…>, <#C…|name>, <!here>, <!subteam^S…>, <!date^…>, <url|label>.
function token(body, ctx) {
  const [target, label] = splitOnce(body, "|");
  if (target.startsWith("@")) {
    const id = target.slice(1);
    return el("span", "mention", "@" + (ctx.names.users[id] || label || id));
  }
  if (target.startsWith("#")) {
    const id = target.slice(1);
    return el("span", "mention channel", "#" + (ctx.names.channels[id] || label || id));
  }
  if (target.startsWith("!subteam^")) {
    const id = target.slice("!subteam^".length);
    return el("span", "mention", "@" + (ctx.names.groups[id] || (label || id).replace(/^@/, "")));
  }
  if (target.startsWith("!date^")) {
    const [, epoch, format] = target.split("^");
    return el("span", "date", formatDate(Number(epoch), format || "{date}", decodeEntities(label || "")));
  }
  if (target.startsWith("!")) {
    return el("span", "mention", "@" + (label || target.slice(1)));
  }
  const href = safeUrl(decodeEntities(target));
  if (!href) return document.createTextNode(decodeEntities("<" + body + ">"));
  const link = el("a", "link", decodeEntities(label || target));
  link.href = href;
  link.rel = "noopener noreferrer";
  link.target = "_blank";
  ctx.onLink?.(link, href);
  return link;
}

function splitOnce(text, sep) {
  const at = text.indexOf(sep);
  return at === -1 ? [text, ""] : [text.slice(0, at), text.slice(at + 1)];
}

const INLINE = new RegExp(
  [
    "<([^<>\\n]+)>",
    "`([^`\\n]+)`",
    "(?<![\\w*])\\*(?!\\s)([^*\\n]+?)\\*(?![\\w*])",
    "(?<![\\w_])_(?!\\s)([^_\\n]+?)_(?![\\w_])",
    "(?<![\\w~])~(?!\\s)([^~\\n]+?)~(?![\\w~])",
    ":([a-z0-9_+\\-]+):",
  ].join("|"),
  "g",
);

export function inline(text, ctx, into) {
  let last = 0;
  for (const match of text.matchAll(INLINE)) {
    if (match.index > last) into.append(decodeEntities(text.slice(last, match.index)));
    const [whole, angle, code, bold, italic, strike, emoji] = match;
    if (angle !== undefined) into.append(token(angle, ctx));
    else if (code !== undefined) into.append(el("code", "", decodeEntities(code)));
    else if (bold !== undefined) inline(bold, ctx, into.appendChild(el("strong")));
    else if (italic !== undefined) inline(italic, ctx, into.appendChild(el("em")));
    else if (strike !== undefined) inline(strike, ctx, into.appendChild(el("s")));
    else if (emoji !== undefined) into.append(EMOJI[emoji] || whole);
    last = match.index + whole.length;
  }
  if (last < text.length) into.append(decodeEntities(text.slice(last)));
  return into;
}

// Block-level: ``` fences, > quotes (a literal ">", not the escaped &gt; of customer text), lines.
export function mrkdwn(text, ctx) {
  const root = el("div", "mrkdwn");
  const parts = String(text || "").split("```");
  parts.forEach((part, index) => {
    if (index % 2 === 1) {
      root.append(el("pre", "", decodeEntities(part.replace(/^\n/, ""))));
      return;
    }
    const lines = part.split("\n");
    let quote = null;
    lines.forEach((line, i) => {
      if (line.startsWith(">")) {
        if (!quote) quote = root.appendChild(el("blockquote"));
        else quote.append(el("br"));
        inline(line.slice(1).replace(/^ /, ""), ctx, quote);
        return;
      }
      quote = null;
      inline(line, ctx, root);
      if (i < lines.length - 1) root.append(el("br"));
    });
  });
  return root;
}

export function plainText(text) {
  return el("span", "plain", String(text || ""));
}

export function emojify(text) {
  return String(text || "").replace(/:([a-z0-9_+\-]+):/g, (whole, name) => EMOJI[name] || whole);
}

// A text object: plain_text is shown as it is (only :emoji: codes turned into emoji), mrkdwn is parsed.
export function textObject(obj, ctx) {
  if (!obj) return el("span");
  if (obj.type === "mrkdwn") return mrkdwn(obj.text, ctx);
  return el("span", "plain", obj.emoji === false ? String(obj.text || "") : emojify(obj.text));
}
