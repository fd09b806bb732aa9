// Small DOM helpers: element builder, tables, forms that show the API's error message.

import { ApiError } from "./api.js";
import { t } from "./i18n.js";

/** h("div", {class: "x", onclick: fn}, child, "text", [more]) */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else if (key === "class") {
      el.className = value;
    } else if (key === "dataset") {
      Object.assign(el.dataset, value);
    } else if (key === "style" && typeof value === "object") {
      Object.assign(el.style, value);
    } else if (value === true) {
      el.setAttribute(key, "");
    } else {
      el.setAttribute(key, String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** A message box for an error (ApiError or anything thrown). */
export function errorBox(error) {
  const isApi = error instanceof ApiError;
  const message = isApi ? error.message : String(error?.message ?? error);
  const code = isApi ? error.code : "";
  return h(
    "div",
    { class: "alert alert-error", role: "alert", "data-testid": "form-error" },
    h("strong", {}, `${t("error")}: `),
    message,
    code ? h("span", { class: "error-code" }, ` (${code}${isApi && error.status ? `, HTTP ${error.status}` : ""})`) : null,
  );
}

export function notice(text) {
  return h("div", { class: "alert alert-ok", role: "status" }, text);
}

export function loading() {
  return h("p", { class: "muted" }, t("loading"));
}

/**
 * A table. columns: [{label, render(row) -> Node|string, class?}]. Empty -> "Nothing yet".
 */
export function table(columns, rows, { testid } = {}) {
  if (!rows.length) return h("p", { class: "muted empty", "data-testid": testid }, t("none"));
  return h(
    "table",
    { class: "grid", "data-testid": testid },
    h("thead", {}, h("tr", {}, columns.map((col) => h("th", { class: col.class }, col.label)))),
    h(
      "tbody",
      {},
      rows.map((row) => h("tr", {}, columns.map((col) => h("td", { class: col.class }, col.render(row))))),
    ),
  );
}

/**
 * A form whose submit calls `onSubmit(values)`; an ApiError (or a thrown Error) is shown
 * at the top of the form, the named field is highlighted. Field spec:
 * {name, label, type: text|number|password|select|checkbox|textarea|datetime-local,
 *  value, required, options: [[value, label]], placeholder, hint, min, max, step, full}
 */
export function form({ fields, submitLabel, onSubmit, testid, extra }) {
  const errorSlot = h("div", { class: "form-messages" });
  const inputs = {};
  const rows = fields.map((spec) => {
    const input = fieldInput(spec);
    inputs[spec.name] = input;
    const label = h("label", { class: `field${spec.full ? " full" : ""}`, dataset: { field: spec.name } });
    if (spec.type === "checkbox") {
      append(label, [input, " ", spec.label]);
    } else {
      append(label, [h("span", { class: "label" }, spec.label, spec.required ? " *" : ""), input]);
    }
    if (spec.hint) append(label, [h("small", { class: "hint" }, spec.hint)]);
    return label;
  });
  const button = h("button", { type: "submit", class: "btn primary", "data-testid": testid ? `${testid}-submit` : undefined }, submitLabel ?? t("save"));
  const el = h(
    "form",
    { class: "form", novalidate: true, "data-testid": testid },
    errorSlot,
    h("div", { class: "fields" }, rows),
    extra ?? null,
    h("div", { class: "form-actions" }, button),
  );
  el.addEventListener("submit", async (event) => {
    event.preventDefault();
    clear(errorSlot);
    el.querySelectorAll(".field.invalid").forEach((node) => node.classList.remove("invalid"));
    button.disabled = true;
    try {
      await onSubmit(readValues(fields, inputs), el);
    } catch (error) {
      clear(errorSlot, errorBox(error));
      for (const name of badFields(error)) {
        el.querySelector(`.field[data-field="${CSS.escape(name)}"]`)?.classList.add("invalid");
      }
      errorSlot.scrollIntoView?.({ block: "nearest" });
    } finally {
      button.disabled = false;
    }
  });
  el.inputs = inputs;
  return el;
}

/** Field names an API error points at: details.field, or each 422 details.errors[].path. */
export function badFields(error) {
  const details = error?.details?.details ?? {};
  const names = [details.field, error?.details?.field];
  for (const problem of details.errors ?? []) names.push(String(problem.path ?? "").split(".")[0]);
  const aliases = { partner_share_bp: "partner_share", amount_fen: "amount", percent_bp: "percent" };
  return [...new Set(names.filter(Boolean).map((name) => aliases[name] ?? name))];
}

function fieldInput(spec) {
  const common = {
    name: spec.name,
    id: `f-${spec.name}`,
    required: spec.required,
    placeholder: spec.placeholder,
    "data-testid": `field-${spec.name}`,
  };
  if (spec.type === "select") {
    const select = h(
      "select",
      common,
      (spec.options ?? []).map(([value, label]) => h("option", { value }, label)),
    );
    if (spec.value !== undefined && spec.value !== null) select.value = String(spec.value);
    return select;
  }
  if (spec.type === "textarea") {
    return h("textarea", common, spec.value ?? "");
  }
  const input = h("input", {
    ...common,
    type: spec.type ?? "text",
    min: spec.min,
    max: spec.max,
    step: spec.step,
    autocomplete: spec.type === "password" ? "new-password" : "off",
  });
  if (spec.type === "checkbox") input.checked = Boolean(spec.value);
  else if (spec.value !== undefined && spec.value !== null) input.value = String(spec.value);
  return input;
}

function readValues(fields, inputs) {
  const values = {};
  for (const spec of fields) {
    const input = inputs[spec.name];
    values[spec.name] = spec.type === "checkbox" ? input.checked : input.value.trim();
  }
  return values;
}

/** "12" -> 12, "" -> undefined, "abc" -> raises (caught by the form and shown). */
export function intOrUndefined(text, label) {
  if (text === "" || text === undefined) return undefined;
  if (!/^-?\d+$/.test(text)) throw new Error(`${label}: ${t("bad_number")}`);
  return Number(text);
}

/** Decimal degrees text -> number (coordinates are the one place floats belong). */
export function decimalOrUndefined(text, label) {
  if (text === "" || text === undefined) return undefined;
  if (!/^-?\d+(\.\d+)?$/.test(text)) throw new Error(`${label}: ${t("bad_number")}`);
  return Number(text);
}

export function formatTime(iso) {
  if (!iso) return "—";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return date.toLocaleString("zh-CN", { timeZone: "Asia/Shanghai", hour12: false });
}

/** A modal-free "panel" that toggles open under a heading button. */
export function collapsible(title, content, { open = false, testid } = {}) {
  const details = h("details", { class: "panel", open, "data-testid": testid }, h("summary", {}, title), content);
  return details;
}

export function badge(text, kind) {
  return h("span", { class: `badge badge-${kind}` }, text);
}
