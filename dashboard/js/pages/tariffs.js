// Tariffs: time-of-use periods (sharp/peak/flat/valley, Asia/Shanghai local time) with an
// electricity price and a service fee per kWh, e-bike power bands priced per hour.

import { listAll, patch, post } from "../api.js";
import { t } from "../i18n.js";
import { formatYuan, parseYuan } from "../money.js";
import { clear, collapsible, errorBox, h, loading, notice, table } from "../ui.js";
import { needOperator } from "./common.js";
import { operatorQuery } from "./fleet.js";

const KINDS = ["sharp", "peak", "flat", "valley"];

// A typical Shenzhen commercial time-of-use day (prices are the demo's, in fen per kWh).
const SHENZHEN_TEMPLATE = [
  ["valley", "00:00", "08:00", 30, 40],
  ["flat", "08:00", "10:00", 68, 60],
  ["peak", "10:00", "12:00", 110, 80],
  ["flat", "12:00", "14:00", 68, 60],
  ["peak", "14:00", "19:00", 110, 80],
  ["sharp", "19:00", "21:00", 132, 80],
  ["peak", "21:00", "22:00", 110, 80],
  ["flat", "22:00", "24:00", 68, 60],
].map(([kind, start, end, electricity, service]) => ({
  kind,
  start,
  end,
  electricity_fen_per_kwh: electricity,
  service_fen_per_kwh: service,
}));

export async function render(ctx, main, isCurrent) {
  if (needOperator(ctx, main)) return;
  const messages = h("div", {});
  const formSlot = h("div", {});
  const listSlot = h("div", {}, loading());
  clear(main, h("div", { class: "page-head" }, h("h2", {}, t("nav_tariffs"))), messages, formSlot, listSlot);

  function edit(tariff) {
    clear(
      formSlot,
      collapsible(`${t("edit_tariff")}: ${tariff.name}`, tariffEditor(tariff, async (body) => {
        await patch(`/operator/tariffs/${encodeURIComponent(tariff.tariff_id)}`, body);
        clear(messages, notice(t("saved")));
        await reload();
      }), { open: true, testid: "edit-tariff" }),
      h("button", { class: "btn link", onclick: () => reload() }, t("cancel")),
    );
    formSlot.scrollIntoView({ block: "start" });
  }

  async function reload() {
    const tariffs = await listAll("/operator/tariffs", operatorQuery(ctx));
    if (!isCurrent()) return;
    if (!ctx.readOnly) {
      clear(formSlot, collapsible(t("new_tariff"), tariffEditor(null, async (body) => {
        if (ctx.isPlatformAdmin) body.operator_id = ctx.operatorId;
        await post("/operator/tariffs", body);
        clear(messages, notice(t("saved")));
        await reload();
      }), { testid: "new-tariff" }));
    }
    clear(
      listSlot,
      table(
        [
          { label: t("tariff_name"), render: (tf) => h("strong", {}, tf.name) },
          { label: t("version"), class: "num", render: (tf) => tf.version ?? "" },
          { label: t("periods"), render: (tf) => h("div", {}, timeline(tf.periods ?? []), periodList(tf.periods ?? [])) },
          {
            label: t("power_bands"),
            render: (tf) =>
              (tf.ebike_power_bands ?? []).map((b) => h("div", {}, `≤ ${b.max_power_w} W: ¥${formatYuan(b.fen_per_hour)}/h`)),
          },
          {
            label: t("actions"),
            render: (tf) =>
              ctx.readOnly
                ? ""
                : h("button", { class: "btn small", "data-testid": "edit-tariff", onclick: () => edit(tf) }, t("edit")),
          },
        ],
        tariffs,
        { testid: "tariffs-table" },
      ),
    );
  }
  await reload();
}

function timeline(periods) {
  const segments = [];
  for (const p of periods) {
    const start = minutes(p.start);
    const end = minutes(p.end);
    const spans = start < end ? [[start, end]] : [[start, 1440], [0, end]];
    for (const [a, b] of spans) if (b > a) segments.push({ kind: p.kind, a, b });
  }
  segments.sort((x, y) => x.a - y.a);
  return h(
    "div",
    { class: "timeline", title: "00:00 — 24:00" },
    segments.map((s) =>
      h("span", { class: `seg kind-${s.kind}`, style: { left: `${(s.a / 1440) * 100}%`, width: `${((s.b - s.a) / 1440) * 100}%` }, title: `${t(`kind_${s.kind}`)} ${clock(s.a)}-${clock(s.b)}` }),
    ),
  );
}

function periodList(periods) {
  return h(
    "div",
    { class: "period-list muted" },
    periods.map((p) =>
      h("span", { class: "period" }, h("span", { class: `dot kind-${p.kind}` }), `${t(`kind_${p.kind}`)} ${p.start}-${p.end} ¥${formatYuan(p.electricity_fen_per_kwh)}+${formatYuan(p.service_fen_per_kwh)}`),
    ),
  );
}

function minutes(text) {
  const [hh, mm] = String(text).split(":").map(Number);
  return hh * 60 + mm;
}

function clock(m) {
  return `${String(Math.trunc(m / 60)).padStart(2, "0")}:${String(m % 60).padStart(2, "0")}`;
}

/** The tariff editor: name, a row per period, a row per power band. */
function tariffEditor(tariff, save) {
  const errorSlot = h("div", { class: "form-messages" });
  const name = h("input", { name: "name", "data-testid": "field-tariff-name", value: tariff?.name ?? "" });
  const minBalance = h("input", { name: "min_start_balance", value: tariff ? formatYuan(tariff.min_start_balance_fen ?? 0) : "0.00" });
  const periodRows = h("tbody", {});
  const bandRows = h("tbody", {});
  const preview = h("div", {});

  function refreshPreview() {
    const periods = [...periodRows.children].map(readPeriodLoosely).filter(Boolean);
    clear(preview, timeline(periods));
  }

  function addPeriod(p = { kind: "flat", start: "", end: "", electricity_fen_per_kwh: null, service_fen_per_kwh: null }) {
    const row = h(
      "tr",
      { class: "period-row" },
      h("td", {}, h("select", { name: "kind", onchange: refreshPreview }, KINDS.map((k) => h("option", { value: k, selected: k === p.kind }, t(`kind_${k}`))))),
      h("td", {}, h("input", { name: "start", value: p.start, placeholder: "00:00", size: 5, oninput: refreshPreview })),
      h("td", {}, h("input", { name: "end", value: p.end, placeholder: "24:00", size: 5, oninput: refreshPreview })),
      h("td", {}, h("input", { name: "electricity", value: p.electricity_fen_per_kwh == null ? "" : formatYuan(p.electricity_fen_per_kwh), size: 7 })),
      h("td", {}, h("input", { name: "service", value: p.service_fen_per_kwh == null ? "" : formatYuan(p.service_fen_per_kwh), size: 7 })),
      h("td", {}, h("button", { type: "button", class: "btn small", onclick: () => { row.remove(); refreshPreview(); } }, t("remove"))),
    );
    periodRows.append(row);
  }

  function addBand(b = { max_power_w: "", fen_per_hour: null }) {
    const row = h(
      "tr",
      { class: "band-row" },
      h("td", {}, h("input", { name: "max_power_w", value: b.max_power_w, size: 7 })),
      h("td", {}, h("input", { name: "price", value: b.fen_per_hour == null ? "" : formatYuan(b.fen_per_hour), size: 7 })),
      h("td", {}, h("button", { type: "button", class: "btn small", onclick: () => row.remove() }, t("remove"))),
    );
    bandRows.append(row);
  }

  (tariff?.periods?.length ? tariff.periods : []).forEach((p) => addPeriod(p));
  (tariff?.ebike_power_bands ?? []).forEach((b) => addBand(b));
  if (!tariff) addPeriod({ kind: "flat", start: "00:00", end: "24:00", electricity_fen_per_kwh: null, service_fen_per_kwh: null });
  refreshPreview();

  const submit = h("button", { type: "submit", class: "btn primary" }, tariff ? t("save") : t("create"));
  const el = h(
    "form",
    { class: "form tariff-editor", novalidate: true, "data-testid": tariff ? "tariff-edit-form" : "tariff-form" },
    errorSlot,
    h("div", { class: "fields" }, h("label", { class: "field" }, h("span", { class: "label" }, `${t("tariff_name")} *`), name), h("label", { class: "field" }, h("span", { class: "label" }, t("min_start_balance")), minBalance)),
    h("h4", {}, t("periods"), " ", h("small", { class: "muted" }, "Asia/Shanghai")),
    preview,
    h(
      "table",
      { class: "grid compact" },
      h("thead", {}, h("tr", {}, [t("period_kind"), t("start"), t("end"), t("electricity_price"), t("service_price"), ""].map((x) => h("th", {}, x)))),
      periodRows,
    ),
    h(
      "div",
      { class: "row-actions" },
      h("button", { type: "button", class: "btn small", onclick: () => { addPeriod(); refreshPreview(); } }, t("add_period")),
      h("button", {
        type: "button",
        class: "btn small",
        onclick: () => {
          periodRows.replaceChildren();
          SHENZHEN_TEMPLATE.forEach((p) => addPeriod(p));
          refreshPreview();
        },
      }, t("preset_tou")),
    ),
    h("h4", {}, t("power_bands")),
    h("table", { class: "grid compact" }, h("thead", {}, h("tr", {}, [t("max_power_w"), t("price_per_hour"), ""].map((x) => h("th", {}, x)))), bandRows),
    h("div", { class: "row-actions" }, h("button", { type: "button", class: "btn small", onclick: () => addBand() }, t("add_band"))),
    h("div", { class: "form-actions" }, submit),
  );
  el.addEventListener("submit", async (event) => {
    event.preventDefault();
    clear(errorSlot);
    submit.disabled = true;
    try {
      const body = {
        name: name.value.trim(),
        periods: [...periodRows.children].map(readPeriod),
        ebike_power_bands: [...bandRows.children].map(readBand),
        min_start_balance_fen: yuanField(minBalance.value, t("min_start_balance")),
      };
      await save(body);
    } catch (error) {
      clear(errorSlot, errorBox(error));
    } finally {
      submit.disabled = false;
    }
  });
  return el;
}

function value(row, name) {
  return row.querySelector(`[name="${name}"]`).value.trim();
}

function yuanField(text, label) {
  const fen = parseYuan(text);
  if (fen === null) throw new Error(`${label}: ${t("bad_amount")}`);
  return fen;
}

function readPeriod(row) {
  return {
    kind: value(row, "kind"),
    start: value(row, "start"),
    end: value(row, "end"),
    electricity_fen_per_kwh: yuanField(value(row, "electricity"), t("electricity_price")),
    service_fen_per_kwh: yuanField(value(row, "service"), t("service_price")),
  };
}

function readPeriodLoosely(row) {
  const start = value(row, "start");
  const end = value(row, "end");
  if (!/^\d\d:\d\d$/.test(start) || !/^\d\d:\d\d$/.test(end)) return null;
  return { kind: value(row, "kind"), start, end };
}

function readBand(row) {
  const power = value(row, "max_power_w");
  if (!/^\d+$/.test(power)) throw new Error(`${t("max_power_w")}: ${t("bad_number")}`);
  return { max_power_w: Number(power), fen_per_hour: yuanField(value(row, "price"), t("price_per_hour")) };
}
