// The dashboard shell: sign-in, who am I, the operator in view, navigation by #/route.

import * as api from "./api.js";
import { lang, t, toggleLang } from "./i18n.js";
import { clear, errorBox, h } from "./ui.js";

import * as cards from "./pages/cards.js";
import * as discounts from "./pages/discounts.js";
import * as monitor from "./pages/monitor.js";
import * as operators from "./pages/operators.js";
import * as overview from "./pages/overview.js";
import * as piles from "./pages/piles.js";
import * as staff from "./pages/staff.js";
import * as stations from "./pages/stations.js";
import * as tariffs from "./pages/tariffs.js";

const ROUTES = [
  { path: "overview", label: "nav_overview", page: overview },
  { path: "monitor", label: "nav_monitor", page: monitor },
  { path: "stations", label: "nav_stations", page: stations },
  { path: "piles", label: "nav_piles", page: piles },
  { path: "tariffs", label: "nav_tariffs", page: tariffs },
  { path: "cards", label: "nav_cards", page: cards },
  { path: "discounts", label: "nav_discounts", page: discounts },
  { path: "staff", label: "nav_staff", page: staff },
  { path: "operators", label: "nav_operators", page: operators, platformOnly: true },
];

const OPERATOR_KEY = "cc.operator";
const app = document.getElementById("app");
let timers = [];
let renderToken = 0;
let currentCtx = null;
let hashListening = false;

function stopTimers() {
  timers.forEach((id) => clearInterval(id));
  timers = [];
}

function showLogin(message) {
  stopTimers();
  currentCtx = null;
  document.documentElement.lang = lang() === "en" ? "en" : "zh-CN";
  const errorSlot = h("div", { class: "form-messages" }, message ? errorBox(message) : null);
  const username = h("input", { name: "username", id: "login-username", autocomplete: "username", required: true });
  const password = h("input", { name: "password", id: "login-password", type: "password", autocomplete: "current-password", required: true });
  const button = h("button", { type: "submit", class: "btn primary", id: "login-submit" }, t("sign_in"));
  const loginForm = h(
    "form",
    { class: "login-card", id: "login-form" },
    h("h1", {}, "⚡ ", t("app_title")),
    h("p", { class: "muted" }, t("login_title")),
    errorSlot,
    h("label", { class: "field" }, h("span", { class: "label" }, t("username")), username),
    h("label", { class: "field" }, h("span", { class: "label" }, t("password")), password),
    button,
    h("button", { type: "button", class: "btn link", onclick: () => { toggleLang(); showLogin(); } }, t("language")),
  );
  loginForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    clear(errorSlot);
    button.disabled = true;
    try {
      await api.login(username.value.trim(), password.value);
      await start();
    } catch (error) {
      clear(errorSlot, errorBox(error));
    } finally {
      button.disabled = false;
    }
  });
  clear(app, h("div", { class: "login-page" }, loginForm));
  username.focus();
}

async function start() {
  if (!api.isLoggedIn()) {
    showLogin();
    return;
  }
  let me;
  try {
    me = await api.get("/operator/me");
  } catch (error) {
    showLogin(error);
    return;
  }
  const isPlatformAdmin = me.role === "platform-admin";
  let operatorList = [];
  if (isPlatformAdmin) {
    try {
      operatorList = await api.listAll("/operator/operators");
    } catch (error) {
      operatorList = [];
    }
  }
  const ctx = {
    me,
    isPlatformAdmin,
    readOnly: me.role === "maintenance",
    operators: operatorList,
    operatorId: isPlatformAdmin ? pickOperator(operatorList) : me.operator_id,
    every(ms, fn) {
      timers.push(setInterval(fn, ms));
    },
    async reloadOperators() {
      if (!isPlatformAdmin) return;
      ctx.operators = await api.listAll("/operator/operators");
      if (!ctx.operatorId) ctx.operatorId = pickOperator(ctx.operators);
      renderShell(ctx);
    },
  };
  currentCtx = ctx;
  if (!hashListening) {
    window.addEventListener("hashchange", () => currentCtx && route(currentCtx));
    hashListening = true;
  }
  renderShell(ctx);
}

function pickOperator(list) {
  const saved = sessionStorage.getItem(OPERATOR_KEY);
  if (saved && list.some((op) => op.operator_id === saved)) return saved;
  return list[0]?.operator_id ?? null;
}

function renderShell(ctx) {
  document.documentElement.lang = lang() === "en" ? "en" : "zh-CN";
  const operatorPicker = ctx.isPlatformAdmin
    ? h(
        "label",
        { class: "operator-picker" },
        h("span", {}, t("operator"), " "),
        h(
          "select",
          {
            id: "operator-select",
            onchange: (event) => {
              ctx.operatorId = event.target.value || null;
              if (ctx.operatorId) sessionStorage.setItem(OPERATOR_KEY, ctx.operatorId);
              route(ctx);
            },
          },
          h("option", { value: "" }, `— ${t("choose_operator")} —`),
          ctx.operators.map((op) => h("option", { value: op.operator_id, selected: op.operator_id === ctx.operatorId }, op.name)),
        ),
      )
    : null;
  const header = h(
    "header",
    { class: "topbar" },
    h("div", { class: "brand" }, "⚡ ", t("app_title")),
    operatorPicker,
    h(
      "div",
      { class: "who" },
      ctx.readOnly ? h("span", { class: "badge badge-readonly", id: "read-only-badge" }, t("read_only")) : null,
      h("span", { id: "whoami" }, `${ctx.me.username} · ${t(`role_${ctx.me.role.replace("-", "_")}`)}`),
      h("button", { class: "btn link", onclick: () => { toggleLang(); renderShell(ctx); } }, t("language")),
      h("button", { class: "btn", id: "logout", onclick: () => { api.logout(); window.location.hash = ""; showLogin(); } }, t("sign_out")),
    ),
  );
  const nav = h(
    "nav",
    { class: "sidenav" },
    ROUTES.filter((r) => !r.platformOnly || ctx.isPlatformAdmin).map((r) =>
      h("a", { href: `#/${r.path}`, id: `nav-${r.path}`, dataset: { route: r.path } }, t(r.label)),
    ),
  );
  const main = h("main", { id: "main", class: "content" });
  clear(app, header, h("div", { class: "layout" }, nav, main));
  route(ctx);
}

async function route(ctx) {
  stopTimers();
  const main = document.getElementById("main");
  if (!main) return;
  const path = (window.location.hash.replace(/^#\/?/, "").split("?")[0] || "overview").toLowerCase();
  const entry = ROUTES.find((r) => r.path === path && (!r.platformOnly || ctx.isPlatformAdmin)) ?? ROUTES[0];
  document.querySelectorAll(".sidenav a").forEach((a) => a.classList.toggle("active", a.dataset.route === entry.path));
  const token = ++renderToken;
  // A page sets its timer after its first load: if the user moved on meanwhile, no timer
  // (else a page left while loading would keep refreshing behind the next one).
  const pageCtx = Object.create(ctx, {
    every: {
      value: (ms, fn) => {
        if (token === renderToken) ctx.every(ms, fn);
      },
    },
  });
  clear(main);
  try {
    await entry.page.render(pageCtx, main, () => token === renderToken);
  } catch (error) {
    if (token === renderToken) clear(main, errorBox(error));
  }
}

api.setUnauthenticatedHandler((error) => showLogin(error));
start();
