// Gun / port states as the monitor shows them: charging, idle, plugged, faulted, offline
// (plus unavailable). Piles report OCPP 1.6 statuses (Available, Preparing, Charging,
// SuspendedEV(SE), Finishing, Reserved, Unavailable, Faulted), OCPP 2.0.1 connector
// statuses (Available, Occupied, Reserved, Unavailable, Faulted) or e-bike port states
// (idle, plugged, charging, full, faulted, disabled); a pile that is offline makes every
// gun offline whatever it last reported.

export const STATES = ["charging", "plugged", "idle", "faulted", "offline", "unavailable"];

const CATEGORY = {
  charging: "charging",
  suspendedev: "charging",
  suspendedevse: "charging",
  preparing: "plugged",
  occupied: "plugged",
  finishing: "plugged",
  plugged: "plugged",
  full: "plugged",
  available: "idle",
  idle: "idle",
  reserved: "idle",
  faulted: "faulted",
  fault: "faulted",
  unavailable: "unavailable",
  disabled: "unavailable",
  offline: "offline",
};

/** The monitor state of one gun of a pile. */
export function gunState(pile, gun) {
  if (!pile.is_online) return "offline";
  if (pile.is_enabled === false || gun?.is_enabled === false) return "unavailable";
  const raw = String(gun?.status ?? "").replace(/[\s_-]/g, "").toLowerCase();
  if (!raw) return "idle";
  return CATEGORY[raw] ?? "unavailable";
}

/** Counts of guns per state, plus pile counts, for a list of {pile, guns}. */
export function countStates(entries) {
  const counts = Object.fromEntries(STATES.map((s) => [s, 0]));
  let online = 0;
  let offline = 0;
  let car = 0;
  let ebike = 0;
  for (const { pile, guns } of entries) {
    if (pile.is_online) online += 1;
    else offline += 1;
    if (pile.kind === "ebike") ebike += 1;
    else car += 1;
    const list = guns.length ? guns : Array.from({ length: pile.gun_count ?? 0 }, () => null);
    for (const gun of list) counts[gunState(pile, gun)] += 1;
  }
  return { counts, online, offline, car, ebike, guns: Object.values(counts).reduce((a, b) => a + b, 0) };
}
