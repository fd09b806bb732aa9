// Bits several pages share.

import { t } from "../i18n.js";
import { clear, h } from "../ui.js";

/** A platform admin must pick an operator first; true when the page cannot render yet. */
export function needOperator(ctx, main) {
  if (ctx.operatorId) return false;
  clear(main, h("p", { class: "alert alert-info", "data-testid": "need-operator" }, t("no_operator")));
  return true;
}

export function itemsOf(data) {
  return Array.isArray(data) ? data : data?.items ?? [];
}

export function roleLabel(role) {
  return t(`role_${String(role).replace(/-/g, "_")}`);
}
