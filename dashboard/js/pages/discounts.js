// Discounts and promotions: percent off the service fee or a fixed amount off a session.

import { listAll, post } from "../api.js";
import { t } from "../i18n.js";
import { formatMoney, formatPercentBp, parsePercentBp, parseYuan } from "../money.js";
import { clear, collapsible, form, formatTime, h, loading, notice, table } from "../ui.js";
import { needOperator } from "./common.js";
import { operatorQuery } from "./fleet.js";

export async function render(ctx, main, isCurrent) {
  if (needOperator(ctx, main)) return;
  const messages = h("div", {});
  const formSlot = h("div", {});
  const listSlot = h("div", {}, loading());
  clear(main, h("div", { class: "page-head" }, h("h2", {}, t("nav_discounts"))), messages, formSlot, listSlot);
  const stations = await listAll("/operator/stations", operatorQuery(ctx));
  if (!isCurrent()) return;
  const stationName = new Map(stations.map((s) => [s.station_id, s.name]));

  async function reload() {
    const discounts = await listAll("/operator/discounts", operatorQuery(ctx));
    if (!isCurrent()) return;
    clear(
      listSlot,
      table(
        [
          { label: t("discount_name"), render: (d) => d.name },
          {
            label: t("discount_kind"),
            render: (d) =>
              d.kind === "percent_off_service"
                ? `${t("percent_off_service")} ${formatPercentBp(d.percent_bp)}`
                : `${t("fixed_off_fen")} ${formatMoney(d.amount_fen)}`,
          },
          { label: t("starts_at"), render: (d) => formatTime(d.starts_at) },
          { label: t("ends_at"), render: (d) => formatTime(d.ends_at) },
          {
            label: t("stations"),
            render: (d) => (d.station_ids?.length ? d.station_ids.map((id) => stationName.get(id) ?? id).join(", ") : t("all_stations")),
          },
        ],
        discounts,
        { testid: "discounts-table" },
      ),
    );
  }

  if (!ctx.readOnly) {
    const stationPicker = h(
      "fieldset",
      { class: "station-picker" },
      h("legend", {}, `${t("stations")} (${t("all_stations")} = ∅)`),
      stations.map((s) => h("label", {}, h("input", { type: "checkbox", value: s.station_id }), ` ${s.name}`)),
    );
    clear(formSlot, collapsible(t("new_discount"), form({
      testid: "discount-form",
      submitLabel: t("create"),
      extra: stationPicker,
      fields: [
        { name: "name", label: t("discount_name"), required: true },
        { name: "kind", label: t("discount_kind"), type: "select", options: [["percent_off_service", t("percent_off_service")], ["fixed_off_fen", t("fixed_off_fen")]] },
        { name: "percent", label: t("percent"), hint: "20 = 20%" },
        { name: "amount", label: t("amount_yuan") },
        { name: "starts_at", label: t("starts_at"), type: "datetime-local", required: true },
        { name: "ends_at", label: t("ends_at"), type: "datetime-local", required: true },
      ],
      onSubmit: async (values) => {
        const body = {
          name: values.name,
          kind: values.kind,
          starts_at: shanghaiToUtc(values.starts_at),
          ends_at: shanghaiToUtc(values.ends_at),
          station_ids: [...stationPicker.querySelectorAll("input:checked")].map((i) => i.value),
        };
        if (values.kind === "percent_off_service") body.percent_bp = parsePercentBp(values.percent) ?? values.percent;
        else {
          const fen = parseYuan(values.amount);
          if (fen === null) throw new Error(t("bad_amount"));
          body.amount_fen = fen;
        }
        if (ctx.isPlatformAdmin) body.operator_id = ctx.operatorId;
        await post("/operator/discounts", body);
        clear(messages, notice(t("saved")));
        await reload();
      },
    }), { testid: "new-discount" }));
  }
  await reload();
}

/** "2026-11-01T08:00" typed as Asia/Shanghai wall time (UTC+8, no DST) -> RFC 3339 UTC. */
function shanghaiToUtc(local) {
  if (!local) return local;
  return `${local.length === 16 ? `${local}:00` : local}+08:00`;
}
