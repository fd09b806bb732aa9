// Money is integer fen everywhere; yuan exist only as text on screen.
// No float maths: fen -> yuan by integer division and remainder, yuan text -> fen by
// splitting the string at the decimal point.

/** Format integer fen as a yuan string with two decimals: 10000 -> "100.00", -105 -> "-1.05". */
export function formatYuan(fen) {
  if (!Number.isSafeInteger(fen)) return "—";
  const sign = fen < 0 ? "-" : "";
  const abs = Math.abs(fen);
  const yuan = Math.trunc(abs / 100);
  const cents = String(abs % 100).padStart(2, "0");
  return `${sign}${groupThousands(String(yuan))}.${cents}`;
}

/** "¥100.00" */
export function formatMoney(fen) {
  return `¥${formatYuan(fen)}`;
}

function groupThousands(digits) {
  return digits.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

/**
 * Parse a yuan amount typed by a person ("100", "100.5", "100.05", "1,000.00") into
 * integer fen. Returns null for anything else (more than two decimals, letters, empty).
 */
export function parseYuan(text) {
  const cleaned = String(text ?? "").trim().replace(/,/g, "").replace(/^¥/, "");
  const match = /^(-?)(\d{1,9})(?:\.(\d{1,2}))?$/.exec(cleaned);
  if (!match) return null;
  const [, sign, whole, frac = ""] = match;
  const fen = Number(whole) * 100 + Number(frac.padEnd(2, "0"));
  return sign === "-" ? -fen : fen;
}

/** Basis points as a percent string: 5000 -> "50.00%". */
export function formatPercentBp(bp) {
  if (!Number.isSafeInteger(bp)) return "—";
  return `${Math.trunc(bp / 100)}.${String(bp % 100).padStart(2, "0")}%`;
}

/** "50", "50.5", "50.25" (percent) -> basis points, or null. */
export function parsePercentBp(text) {
  const match = /^(\d{1,3})(?:\.(\d{1,2}))?$/.exec(String(text ?? "").trim().replace(/%$/, ""));
  if (!match) return null;
  const bp = Number(match[1]) * 100 + Number((match[2] ?? "").padEnd(2, "0"));
  return bp <= 10000 ? bp : null;
}

/** Integer Wh as kWh text with three decimals: 12345 -> "12.345". */
export function formatKwh(wh) {
  if (!Number.isSafeInteger(wh)) return "—";
  return `${Math.trunc(wh / 1000)}.${String(Math.abs(wh % 1000)).padStart(3, "0")}`;
}

/** Integer W as kW text: 7000 -> "7", 7400 -> "7.4", 60000 -> "60". */
export function formatKw(w) {
  if (!Number.isSafeInteger(w)) return "—";
  const whole = Math.trunc(w / 1000);
  const rest = String(w % 1000).padStart(3, "0").replace(/0+$/, "");
  return rest ? `${whole}.${rest}` : String(whole);
}
