// Real-time monitor: stations -> piles -> guns/ports coloured by state, refreshed every 5 s.
// Each station's header shows its live site load (transformer meter) and the band a new
// charge gets; a station without a meter shows nothing extra. An e-bike pile's charging
// ports show their power, the tooltip the temperature (ports.js, one request per pile).

import { t } from "../i18n.js";
import { formatKw, formatPercentBp } from "../money.js";
import { describeLoad, formatAge, formatKw1, SiteLoadPoller } from "../siteload.js";
import { portPowerText, portReadingTitle } from "../ports.js";
import { countStates, gunState, STATES } from "../status.js";
import { clear, formatTime, h, loading } from "../ui.js";
import { needOperator } from "./common.js";
import { loadFleet } from "./fleet.js";

export async function render(ctx, main, isCurrent) {
  if (needOperator(ctx, main)) return;
  const body = h("div", { id: "monitor-body" }, loading());
  const stamp = h("span", { id: "monitor-updated" });
  const legend = h(
    "div",
    { class: "legend" },
    STATES.map((state) => h("span", { class: `chip state-${state}` }, t(`state_${state}`))),
  );
  clear(
    main,
    h(
      "div",
      { class: "page-head" },
      h("h2", {}, t("nav_monitor")),
      h("div", { class: "muted" }, stamp, " · ", t("auto_refresh"), " ", h("button", { class: "btn small", onclick: () => refresh() }, t("refresh"))),
    ),
    legend,
    body,
  );
  const siteLoads = new SiteLoadPoller();
  async function refresh() {
    // The loads are asked for while the guns load: the refresh takes no longer.
    const fleet = await loadFleet(ctx, {
      livePorts: true,
      alongside: (stations) => siteLoads.poll(stations.map((station) => station.station_id)),
    });
    if (!isCurrent()) return;
    const loads = fleet.extra;
    const groups = fleet.groups.map((group) =>
      stationSection(group.station, group.piles, loads.get(group.station.station_id)),
    );
    if (fleet.orphans.length) groups.push(stationSection({ station_id: "-", name: "—" }, fleet.orphans));
    clear(body, groups.length ? groups : h("p", { class: "muted" }, t("none")));
    stamp.textContent = `${t("updated_at")} ${new Date().toLocaleTimeString("zh-CN", { hour12: false })}`;
  }
  await refresh();
  ctx.every(5000, () => refresh().catch(() => {}));
}

function stationSection(station, entries, load) {
  const counts = countStates(entries);
  return h(
    "section",
    { class: "station", "data-testid": "monitor-station", dataset: { stationId: station.station_id } },
    h(
      "header",
      { class: "station-head" },
      h("h3", {}, station.name),
      h("span", { class: "muted" }, station.address ?? ""),
      siteLoadChip(load),
      h(
        "span",
        { class: "station-counts" },
        STATES.filter((s) => counts.counts[s]).map((s) => h("span", { class: `chip state-${s}` }, `${t(`state_${s}`)} ${counts.counts[s]}`)),
        h("span", { class: "chip" }, `${t("piles_online")} ${counts.online}/${counts.online + counts.offline}`),
      ),
    ),
    entries.length
      ? h("div", { class: "pile-grid" }, entries.map(({ pile, guns }) => pileCard(pile, guns)))
      : h("p", { class: "muted" }, t("none")),
  );
}

/** The station's live load: kW, % of the transformer, the band, the reading's age. */
function siteLoadChip(load) {
  if (!load) return null;
  if (load.error) {
    return h(
      "span",
      { class: "site-load load-error", "data-testid": "site-load", dataset: { band: "error" }, title: load.error.message },
      t("load_error"),
    );
  }
  const view = describeLoad(load.answer);
  const band = view.isLive ? view.band ?? "unknown" : "stale";
  const capacity = view.capacityW ? ` · ${t("transformer_kva")} ${Math.trunc(view.capacityW / 1000)}` : "";
  return h(
    "span",
    {
      class: `site-load load-${band}`,
      "data-testid": "site-load",
      dataset: { band, powerW: view.powerW, shareBp: view.shareBp ?? "" },
      title: `${t("load_band_hint")}${capacity}`,
    },
    h("span", { class: "site-load-label" }, t("site_load")),
    h("b", { "data-testid": "site-load-kw" }, `${formatKw1(view.powerW)} kW`),
    view.shareBp === null
      ? null
      : h("span", { "data-testid": "site-load-share" }, t("load_share").replace("{p}", formatPercentBp(view.shareBp))),
    h(
      "span",
      { class: "site-load-band", "data-testid": "site-load-band" },
      band === "stale" ? t("load_stale") : t(`load_band_${band}`),
    ),
    h("span", { class: "site-load-age", "data-testid": "site-load-age" }, formatAge(view.ageMs)),
  );
}

function pileCard(pile, guns) {
  const list = guns.length
    ? guns
    : Array.from({ length: pile.gun_count ?? 0 }, (_, i) => ({ gun_no: i + 1, status: null }));
  return h(
    "article",
    {
      class: `pile-card ${pile.is_online ? "is-online" : "is-offline"}`,
      "data-testid": "monitor-pile",
      dataset: { pileId: pile.pile_id, online: pile.is_online ? "true" : "false" },
    },
    h(
      "header",
      {},
      h("span", { class: `pile-kind kind-${pile.kind}` }, t(`kind_${pile.kind}`)),
      h("strong", { class: "pile-id" }, pile.pile_id),
      h("span", { class: `badge ${pile.is_online ? "badge-online" : "badge-offline"}` }, pile.is_online ? t("online") : t("offline_pile")),
    ),
    h(
      "div",
      { class: "pile-meta muted" },
      `${pile.protocol} · ${formatKw(pile.rated_power_w)} kW · ${pile.model ?? ""}`,
      pile.is_enabled === false ? h("span", { class: "badge badge-offline" }, t("disabled")) : null,
    ),
    h(
      "div",
      { class: "guns" },
      list.map((gun) => {
        const state = gunState(pile, gun);
        const power = portPowerText(gun, state);
        const reading = portReadingTitle(gun);
        const live = Number.isSafeInteger(gun.power_w) ? { powerW: gun.power_w } : {};
        if (Number.isSafeInteger(gun.temperature_dc)) live.temperatureDc = gun.temperature_dc;
        return h(
          "span",
          {
            class: `gun state-${state}`,
            title: `${gun.status ?? ""}${gun.error_code && gun.error_code !== "NoError" ? ` · ${gun.error_code}` : ""}${reading ? ` · ${reading}` : ""}${gun.status_at ? ` · ${formatTime(gun.status_at)}` : ""}`,
            "data-testid": "monitor-gun",
            dataset: { state, gunNo: gun.gun_no, ...live },
          },
          h("b", {}, gun.gun_no),
          " ",
          t(`state_${state}`),
          power ? h("span", { class: "gun-power", "data-testid": "monitor-gun-power" }, ` ${power}`) : null,
        );
      }),
    ),
    h("footer", { class: "muted" }, `${t("last_seen")}: ${formatTime(pile.last_seen_at ?? pile.connected_at)}`),
  );
}
