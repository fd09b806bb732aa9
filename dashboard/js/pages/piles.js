// Piles: list (by station), register with a password, enable / disable, delete.

import { del, listAll, patch, post, request } from "../api.js";
import { t } from "../i18n.js";
import { formatKw } from "../money.js";
import { clear, collapsible, errorBox, form, formatTime, h, intOrUndefined, loading, notice, table } from "../ui.js";
import { needOperator } from "./common.js";
import { operatorQuery } from "./fleet.js";

export async function render(ctx, main, isCurrent) {
  if (needOperator(ctx, main)) return;
  const messages = h("div", {});
  const formSlot = h("div", {});
  const filterSlot = h("div", { class: "filters" });
  const listSlot = h("div", { id: "piles-list" }, loading());
  clear(main, h("div", { class: "page-head" }, h("h2", {}, t("nav_piles"))), messages, formSlot, filterSlot, listSlot);
  let stationFilter = "";

  const stations = await listAll("/operator/stations", operatorQuery(ctx));
  if (!isCurrent()) return;
  const stationName = new Map(stations.map((s) => [s.station_id, s.name]));
  clear(
    filterSlot,
    h(
      "label",
      {},
      `${t("station")}: `,
      h(
        "select",
        { id: "pile-station-filter", onchange: (e) => { stationFilter = e.target.value; reload(); } },
        h("option", { value: "" }, t("all_stations")),
        stations.map((s) => h("option", { value: s.station_id }, s.name)),
      ),
    ),
  );
  if (!ctx.readOnly) {
    clear(formSlot, collapsible(t("new_pile"), pileForm(stations, async (body) => {
      await post("/operator/piles", body);
      clear(messages, notice(t("saved")));
      await reload();
    }), { testid: "new-pile" }));
  }

  async function act(work) {
    try {
      await work();
      clear(messages, notice(t("saved")));
    } catch (error) {
      clear(messages, errorBox(error));
    }
    await reload();
  }

  async function reload() {
    const query = { ...operatorQuery(ctx), station_id: stationFilter || undefined };
    const piles = await listAll("/operator/piles", query);
    if (!isCurrent()) return;
    clear(
      listSlot,
      table(
        [
          { label: t("pile_id"), render: (p) => h("code", {}, p.pile_id) },
          { label: t("name"), render: (p) => p.name ?? "" },
          { label: t("station"), render: (p) => stationName.get(p.station_id) ?? p.station_id },
          { label: t("kind"), render: (p) => t(`kind_${p.kind}`) },
          { label: t("protocol"), render: (p) => p.protocol },
          { label: t("model"), render: (p) => p.model },
          { label: t("power"), class: "num", render: (p) => `${formatKw(p.rated_power_w)} kW` },
          { label: t("gun_count"), class: "num", render: (p) => p.gun_count },
          {
            label: t("status"),
            render: (p) =>
              h("span", { class: `badge ${p.is_online ? "badge-online" : "badge-offline"}` }, p.is_online ? t("online") : t("offline_pile")),
          },
          { label: t("last_seen"), render: (p) => formatTime(p.last_seen_at ?? p.connected_at) },
          { label: t("enabled"), render: (p) => (p.is_enabled ? t("yes") : t("no")) },
          {
            label: t("actions"),
            render: (p) =>
              ctx.readOnly
                ? ""
                : h(
                    "div",
                    { class: "row-actions" },
                    h(
                      "button",
                      {
                        class: "btn small",
                        "data-testid": `toggle-${p.pile_id}`,
                        onclick: () => act(() => patch(`/operator/piles/${encodeURIComponent(p.pile_id)}`, { is_enabled: !p.is_enabled })),
                      },
                      p.is_enabled ? t("disable") : t("enable"),
                    ),
                    p.protocol === "modbus" ? null : passwordForm(p, act),
                    h(
                      "button",
                      {
                        class: "btn danger small",
                        onclick: () => {
                          if (window.confirm(t("confirm_delete"))) act(() => del(`/operator/piles/${encodeURIComponent(p.pile_id)}`));
                        },
                      },
                      t("delete"),
                    ),
                  ),
          },
        ],
        piles,
        { testid: "piles-table" },
      ),
    );
  }
  await reload();
}

/** Set a new OCPP password (the old one stops working at the pile's next connect). */
function passwordForm(pile, act) {
  const input = h("input", { type: "password", size: 14, placeholder: t("new_password"), autocomplete: "new-password" });
  return h(
    "form",
    {
      class: "inline",
      onsubmit: (event) => {
        event.preventDefault();
        act(() => request("PUT", `/operator/piles/${encodeURIComponent(pile.pile_id)}/password`, { password: input.value }));
      },
    },
    input,
    h("button", { type: "submit", class: "btn small" }, t("set_password")),
  );
}

function pileForm(stations, save) {
  return form({
    testid: "pile-form",
    submitLabel: t("create"),
    fields: [
      { name: "pile_id", label: t("pile_id"), required: true, placeholder: "SZ-0001" },
      { name: "name", label: t("name") },
      { name: "station_id", label: t("station"), type: "select", required: true, options: stations.map((s) => [s.station_id, s.name]) },
      { name: "serial", label: t("serial"), required: true },
      { name: "kind", label: t("kind"), type: "select", options: [["car", t("kind_car")], ["ebike", t("kind_ebike")]] },
      { name: "protocol", label: t("protocol"), type: "select", options: [["ocpp1.6", "OCPP 1.6J"], ["ocpp2.0.1", "OCPP 2.0.1"], ["modbus", "Modbus RTU"]] },
      { name: "model", label: t("model"), required: true },
      { name: "rated_power_w", label: t("rated_power"), required: true, placeholder: "7000" },
      { name: "gun_count", label: t("gun_count"), required: true, value: "1" },
      { name: "password", label: t("pile_password"), type: "password", hint: "OCPP" },
      { name: "gateway_id", label: t("gateway_id"), hint: "Modbus" },
      { name: "modbus_address", label: t("modbus_address"), hint: "Modbus 1-247" },
      { name: "is_enabled", label: t("enabled"), type: "checkbox", value: true },
    ],
    onSubmit: async (values) => {
      const body = {
        pile_id: values.pile_id,
        station_id: values.station_id,
        serial: values.serial,
        kind: values.kind,
        protocol: values.protocol,
        model: values.model,
        rated_power_w: intOrUndefined(values.rated_power_w, t("rated_power")),
        gun_count: intOrUndefined(values.gun_count, t("gun_count")),
        is_enabled: values.is_enabled,
      };
      if (values.name) body.name = values.name;
      if (values.protocol === "modbus") {
        if (values.gateway_id) body.gateway_id = values.gateway_id;
        const address = intOrUndefined(values.modbus_address, t("modbus_address"));
        if (address !== undefined) body.modbus_address = address;
      } else {
        if (values.password) body.password = values.password;
        if (values.gateway_id) body.gateway_id = values.gateway_id;
      }
      await save(body);
    },
  });
}
