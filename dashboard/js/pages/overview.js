// Overview: per-station counts of guns by state, piles online/offline, car vs e-bike.

import { t } from "../i18n.js";
import { countStates, STATES } from "../status.js";
import { clear, h, loading, table } from "../ui.js";
import { loadFleet } from "./fleet.js";
import { needOperator } from "./common.js";

export async function render(ctx, main, isCurrent) {
  if (needOperator(ctx, main)) return;
  const body = h("div", { id: "overview-body" }, loading());
  const stamp = h("span", { class: "muted", id: "overview-updated" });
  clear(
    main,
    h("div", { class: "page-head" }, h("h2", {}, t("nav_overview")), h("div", { class: "muted" }, stamp, " · ", t("auto_refresh"))),
    body,
  );
  async function refresh() {
    const fleet = await loadFleet(ctx);
    if (!isCurrent()) return;
    const all = fleet.groups.flatMap((g) => g.piles).concat(fleet.orphans);
    const totals = countStates(all);
    clear(
      body,
      h(
        "section",
        { class: "kpis", "data-testid": "overview-kpis" },
        STATES.map((state) => kpi(t(`state_${state}`), totals.counts[state], `state-${state}`)),
        kpi(t("piles_online"), totals.online, "kpi-online"),
        kpi(t("piles_offline"), totals.offline, "kpi-offline"),
        kpi(t("car_piles"), totals.car, "kpi-car"),
        kpi(t("ebike_piles"), totals.ebike, "kpi-ebike"),
      ),
      table(
        [
          { label: t("station"), render: (row) => row.name },
          ...STATES.map((state) => ({
            label: t(`state_${state}`),
            class: "num",
            render: (row) => h("span", { class: row.counts.counts[state] ? `count state-${state}` : "count zero" }, row.counts.counts[state]),
          })),
          { label: t("piles_online"), class: "num", render: (row) => `${row.counts.online} / ${row.counts.online + row.counts.offline}` },
          { label: t("car_piles"), class: "num", render: (row) => row.counts.car },
          { label: t("ebike_piles"), class: "num", render: (row) => row.counts.ebike },
        ],
        [
          ...fleet.groups.map((g) => ({ name: g.station.name, counts: countStates(g.piles) })),
          ...(fleet.groups.length > 1 ? [{ name: t("total"), counts: totals }] : []),
        ],
        { testid: "overview-table" },
      ),
    );
    stamp.textContent = `${t("updated_at")} ${new Date().toLocaleTimeString("zh-CN", { hour12: false })}`;
  }
  await refresh();
  ctx.every(5000, () => refresh().catch(() => {}));
}

function kpi(label, value, cls) {
  return h("div", { class: `kpi ${cls}` }, h("div", { class: "kpi-value" }, value), h("div", { class: "kpi-label" }, label));
}
