// Stations, their piles and every gun, loaded together for the overview and the monitor.

import { get, listAll, mapLimit } from "../api.js";
import { hasLivePorts } from "../ports.js";

export function operatorQuery(ctx) {
  return ctx.operatorId ? { operator_id: ctx.operatorId } : {};
}

/**
 * [{station, piles: [{pile, guns}]}] plus piles whose station is not in the list.
 * `alongside(stations)`, if given, runs while the guns load; its result is `extra`.
 * `livePorts`: an e-bike (Modbus) pile's ports come with their newest readings
 * (GET .../ports/live instead of .../guns: still one request per pile).
 */
export async function loadFleet(ctx, { alongside, livePorts = false } = {}) {
  const query = operatorQuery(ctx);
  const [stations, piles] = await Promise.all([
    listAll("/operator/stations", query),
    listAll("/operator/piles", query),
  ]);
  const extraPromise = alongside ? alongside(stations) : Promise.resolve(undefined);
  const gunsPromise = mapLimit(piles, 6, async (pile) => {
    const base = `/operator/piles/${encodeURIComponent(pile.pile_id)}`;
    const sorted = (data) => {
      const list = Array.isArray(data) ? data : data?.items ?? [];
      return [...list].sort((a, b) => (a.gun_no ?? 0) - (b.gun_no ?? 0));
    };
    if (livePorts && hasLivePorts(pile)) {
      // The ports with their newest readings: status as /guns has it, plus the figures.
      try {
        return sorted(await get(`${base}/ports/live`));
      } catch {
        // fall through to the plain port list
      }
    }
    try {
      return sorted(await get(`${base}/guns`));
    } catch {
      return [];
    }
  });
  const [guns, extra] = await Promise.all([gunsPromise, extraPromise]);
  const byStation = new Map(stations.map((station) => [station.station_id, { station, piles: [] }]));
  const orphans = [];
  piles.forEach((pile, index) => {
    const entry = { pile, guns: guns[index] };
    const group = byStation.get(pile.station_id);
    if (group) group.piles.push(entry);
    else orphans.push(entry);
  });
  for (const group of byStation.values()) {
    group.piles.sort((a, b) => a.pile.pile_id.localeCompare(b.pile.pile_id));
  }
  const groups = [...byStation.values()].sort((a, b) => a.station.name.localeCompare(b.station.name, "zh-CN"));
  return { groups, orphans, stations, piles, extra };
}
