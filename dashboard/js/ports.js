// E-bike (Modbus) ports' live figures as the monitor shows them: the power of a charging
// port on its chip ("3 充电中 280 W") and the temperature, voltage, current and reading time
// in its tooltip. The figures come from GET /operator/piles/{id}/ports/live (the newest
// reading of each port; null figures while a port has none), asked instead of .../guns for
// an e-bike pile, so the monitor's refresh still makes one request per pile.

import { t } from "./i18n.js";

/** A pile whose ports have Modbus readings (an e-bike pile behind a gateway). */
export function hasLivePorts(pile) {
  return pile?.protocol === "modbus";
}

/** Integer tenths as text with one decimal, exactly: 312 -> "31.2", -5 -> "-0.5". */
export function formatTenths(value) {
  if (!Number.isSafeInteger(value)) return "—";
  const sign = value < 0 ? "-" : "";
  const abs = Math.abs(value);
  return `${sign}${Math.trunc(abs / 10)}.${abs % 10}`;
}

/** Integer mA as A with two decimals, truncated: 1270 -> "1.27". */
export function formatAmps(ma) {
  if (!Number.isSafeInteger(ma)) return "—";
  const abs = Math.abs(ma);
  return `${ma < 0 ? "-" : ""}${Math.trunc(abs / 1000)}.${String(Math.trunc((abs % 1000) / 10)).padStart(2, "0")}`;
}

/** The power shown on a port's chip: "280 W" for a charging port with a reading, else null. */
export function portPowerText(gun, state) {
  if (state !== "charging" || !Number.isSafeInteger(gun?.power_w)) return null;
  return `${gun.power_w} W`;
}

/** The reading's part of a port's tooltip (temperature first), or "" without a reading. */
export function portReadingTitle(gun) {
  if (!gun || !gun.at) return "";
  const parts = [];
  if (Number.isSafeInteger(gun.temperature_dc)) parts.push(`${t("port_temperature")} ${formatTenths(gun.temperature_dc)} °C`);
  if (Number.isSafeInteger(gun.power_w)) parts.push(`${gun.power_w} W`);
  if (Number.isSafeInteger(gun.voltage_dv)) parts.push(`${formatTenths(gun.voltage_dv)} V`);
  if (Number.isSafeInteger(gun.current_ma)) parts.push(`${formatAmps(gun.current_ma)} A`);
  if (Number.isSafeInteger(gun.energy_wh)) parts.push(`${t("port_energy")} ${gun.energy_wh} Wh`);
  return parts.join(" · ");
}
