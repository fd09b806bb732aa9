// Stations: list, create, edit, delete.

import { del, listAll, patch, post } from "../api.js";
import { t } from "../i18n.js";
import { formatPercentBp, parsePercentBp } from "../money.js";
import {
  clear,
  collapsible,
  decimalOrUndefined,
  errorBox,
  form,
  h,
  intOrUndefined,
  loading,
  notice,
  table,
} from "../ui.js";
import { needOperator } from "./common.js";
import { operatorQuery } from "./fleet.js";

export async function render(ctx, main, isCurrent) {
  if (needOperator(ctx, main)) return;
  const listSlot = h("div", { id: "stations-list" }, loading());
  const formSlot = h("div", {});
  const messages = h("div", {});
  clear(main, h("div", { class: "page-head" }, h("h2", {}, t("nav_stations"))), messages, formSlot, listSlot);

  let tariffs = [];

  function edit(station) {
    clear(
      formSlot,
      collapsible(`${t("edit_station")}: ${station.name}`, stationForm(ctx, tariffs, station, async (body) => {
        await patch(`/operator/stations/${encodeURIComponent(station.station_id)}`, body);
        clear(messages, notice(t("saved")));
        await reload();
      }), { open: true, testid: "edit-station" }),
      h("button", { class: "btn link", onclick: () => reload() }, t("cancel")),
    );
    formSlot.scrollIntoView({ block: "start" });
  }

  async function reload() {
    let stations;
    [stations, tariffs] = await Promise.all([
      listAll("/operator/stations", operatorQuery(ctx)),
      listAll("/operator/tariffs", operatorQuery(ctx)),
    ]);
    if (!isCurrent()) return;
    const tariffName = new Map(tariffs.map((tf) => [tf.tariff_id, tf.name]));
    clear(
      formSlot,
      ctx.readOnly
        ? null
        : collapsible(t("new_station"), stationForm(ctx, tariffs, null, async (body) => {
            await post("/operator/stations", body);
            clear(messages, notice(t("saved")));
            await reload();
          }), { testid: "new-station", open: stations.length === 0 }),
    );
    clear(
      listSlot,
      table(
        [
          { label: t("name"), render: (s) => h("span", { "data-testid": "station-name" }, s.name) },
          { label: t("address"), render: (s) => s.address },
          { label: `${t("lat")}, ${t("lng")}`, render: (s) => `${s.lat}, ${s.lng}` },
          { label: t("transformer_kva"), class: "num", render: (s) => s.transformer_capacity_kva },
          { label: t("partner_share"), class: "num", render: (s) => formatPercentBp(s.partner_share_bp) },
          { label: t("tariff"), render: (s) => (s.tariff_id ? tariffName.get(s.tariff_id) ?? s.tariff_id : t("no_tariff")) },
          {
            label: t("actions"),
            render: (s) =>
              ctx.readOnly
                ? ""
                : h(
                    "div",
                    { class: "row-actions" },
                    h("button", { class: "btn small", "data-testid": "edit-station", onclick: () => edit(s) }, t("edit")),
                    h("button", {
                      class: "btn danger small",
                      onclick: async () => {
                        if (!window.confirm(t("confirm_delete"))) return;
                        try {
                          await del(`/operator/stations/${encodeURIComponent(s.station_id)}`);
                          clear(messages, notice(t("saved")));
                        } catch (error) {
                          clear(messages, errorBox(error));
                        }
                        await reload();
                      },
                    }, t("delete")),
                  ),
          },
        ],
        stations,
        { testid: "stations-table" },
      ),
    );
  }
  await reload();
}

function stationForm(ctx, tariffs, station, save) {
  const isNew = station === null;
  return form({
    testid: isNew ? "station-form" : "station-edit-form",
    submitLabel: isNew ? t("create") : t("save"),
    fields: [
      { name: "name", label: t("name"), required: true, value: station?.name },
      { name: "address", label: t("address"), required: true, value: station?.address, full: true },
      { name: "lat", label: t("lat"), required: true, value: station?.lat, placeholder: "22.5431" },
      { name: "lng", label: t("lng"), required: true, value: station?.lng, placeholder: "114.0579" },
      { name: "transformer_capacity_kva", label: t("transformer_kva"), required: true, value: station?.transformer_capacity_kva, placeholder: "630" },
      {
        name: "partner_share",
        label: t("partner_share"),
        required: true,
        value: station ? formatPercentBp(station.partner_share_bp).replace("%", "") : "50",
      },
      { name: "partner_name", label: t("partner_name"), value: station?.partner_name },
      {
        name: "tariff_id",
        label: t("tariff"),
        type: "select",
        value: station?.tariff_id ?? "",
        options: [["", t("no_tariff")], ...tariffs.map((tf) => [tf.tariff_id, tf.name])],
      },
    ],
    onSubmit: async (values) => {
      const shareBp = parsePercentBp(values.partner_share);
      const body = {
        name: values.name,
        address: values.address,
        lat: decimalOrUndefined(values.lat, t("lat")),
        lng: decimalOrUndefined(values.lng, t("lng")),
        transformer_capacity_kva: intOrUndefined(values.transformer_capacity_kva, t("transformer_kva")),
        // An unparseable share goes to the API as typed so its validation message shows.
        partner_share_bp: shareBp ?? values.partner_share,
        tariff_id: values.tariff_id || undefined,
        partner_name: values.partner_name || undefined,
      };
      if (isNew && ctx.isPlatformAdmin) body.operator_id = ctx.operatorId;
      if (!isNew) {
        if (!values.tariff_id && station.tariff_id) body.tariff_id = null;
        for (const key of Object.keys(body)) if (body[key] === undefined) delete body[key];
      }
      await save(body);
    },
  });
}
