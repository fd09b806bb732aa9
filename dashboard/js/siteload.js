// A station's live site load (its transformer meter) as the monitor shows it: kW now, the
// share of the transformer's capacity, the band a new charge gets and how old the reading is.
// The API (GET /operator/stations/{id}/load) answers capacity_w, load_share_bp, is_live and
// band; when an answer lacks them they are computed here with the server's integer rule
// (shared/domain/site_load.py band_of: above 80 % refused, above 50 % limited, an export
// counts 0; a reading older than 5 minutes by either clock is stale and has no band).

import { get, mapLimit } from "./api.js";
import { t } from "./i18n.js";

export const STALE_AFTER_MS = 5 * 60 * 1000;
export const LIMIT_ABOVE_BP = 5000;
export const REFUSE_ABOVE_BP = 8000;
// A station without a meter (404) is asked again only this often, not every refresh.
export const NO_METER_RECHECK_MS = 60_000;

/** The band of a live load against the capacity (W, integers): "normal"|"limited"|"refused". */
export function bandOf(loadW, capacityW) {
  const used = Math.max(loadW, 0);
  if (used * 10000 > capacityW * REFUSE_ABOVE_BP) return "refused";
  if (used * 10000 > capacityW * LIMIT_ABOVE_BP) return "limited";
  return "normal";
}

/** Age of a reading in ms: by the older of the gateway's clock and our receipt time. */
export function readingAgeMs(answer, nowMs) {
  const times = [answer.at, answer.received_at].map((iso) => Date.parse(iso)).filter((ms) => !Number.isNaN(ms));
  if (!times.length) return null;
  return Math.max(nowMs - Math.min(...times), 0);
}

/**
 * What the monitor shows for one answer: {powerW, capacityW, shareBp, isLive, band, ageMs}.
 * band is null when the reading is stale (a silent meter limits nothing).
 */
export function describeLoad(answer, nowMs = Date.now()) {
  const powerW = Number(answer.power_w);
  const ageMs = readingAgeMs(answer, nowMs);
  const capacityW = Number.isSafeInteger(answer.capacity_w) ? answer.capacity_w : null;
  const shareBp = Number.isSafeInteger(answer.load_share_bp)
    ? answer.load_share_bp
    : capacityW > 0
      ? Math.trunc((Math.max(powerW, 0) * 10000) / capacityW)
      : null;
  const isLive = typeof answer.is_live === "boolean" ? answer.is_live : ageMs !== null && ageMs <= STALE_AFTER_MS;
  let band = null;
  if (isLive) {
    if (answer.band !== undefined) band = answer.band;
    else if (capacityW > 0 && Number.isSafeInteger(powerW)) band = bandOf(powerW, capacityW);
  }
  return { powerW, capacityW, shareBp, isLive, band, ageMs };
}

/** Integer W as kW with one decimal, truncated: 63217 -> "63.2", -1500 -> "-1.5". */
export function formatKw1(w) {
  if (!Number.isSafeInteger(w)) return "—";
  const sign = w < 0 ? "-" : "";
  const abs = Math.abs(w);
  return `${sign}${Math.trunc(abs / 1000)}.${Math.trunc((abs % 1000) / 100)}`;
}

/** How old a reading is, in words: "12 秒前", "3 分钟前", "2 小时前" ("12 s ago" ...). */
export function formatAge(ageMs) {
  if (ageMs === null || ageMs === undefined) return "—";
  const seconds = Math.trunc(ageMs / 1000);
  if (seconds < 60) return t("age_seconds").replace("{n}", seconds);
  if (seconds < 3600) return t("age_minutes").replace("{n}", Math.trunc(seconds / 60));
  if (seconds < 172800) return t("age_hours").replace("{n}", Math.trunc(seconds / 3600));
  return t("age_days").replace("{n}", Math.trunc(seconds / 86400));
}

/**
 * Site loads of the stations on the monitor, one request per station per refresh at most;
 * a station whose meter has never reported (404) is asked again after NO_METER_RECHECK_MS.
 */
export class SiteLoadPoller {
  constructor(fetcher = (stationId) => get(`/operator/stations/${encodeURIComponent(stationId)}/load`)) {
    this.fetcher = fetcher;
    this.noMeterUntil = new Map();
  }

  /** Map station_id -> {answer} | {error}; stations without a meter are absent. */
  async poll(stationIds, nowMs = Date.now()) {
    const loads = new Map();
    const due = stationIds.filter((stationId) => (this.noMeterUntil.get(stationId) ?? 0) <= nowMs);
    await mapLimit(due, 6, async (stationId) => {
      try {
        loads.set(stationId, { answer: await this.fetcher(stationId) });
        this.noMeterUntil.delete(stationId);
      } catch (error) {
        if (error?.status === 404) this.noMeterUntil.set(stationId, nowMs + NO_METER_RECHECK_MS);
        else loads.set(stationId, { error });
      }
    });
    return loads;
  }
}
