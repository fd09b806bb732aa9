// Staff logins of an operator: operator admins and maintenance staff (Cognito users).

import { get, post } from "../api.js";
import { t } from "../i18n.js";
import { clear, collapsible, errorBox, form, formatTime, h, loading, notice, table } from "../ui.js";
import { itemsOf, needOperator, roleLabel } from "./common.js";

export async function render(ctx, main, isCurrent) {
  if (needOperator(ctx, main)) return;
  const messages = h("div", {});
  const formSlot = h("div", {});
  const listSlot = h("div", {}, loading());
  clear(main, h("div", { class: "page-head" }, h("h2", {}, t("nav_staff"))), messages, formSlot, listSlot);
  const base = `/operator/operators/${encodeURIComponent(ctx.operatorId)}/staff`;

  async function reload() {
    let staff;
    try {
      staff = itemsOf(await get(base));
    } catch (error) {
      if (!isCurrent()) return;
      clear(listSlot, errorBox(error));
      return;
    }
    if (!isCurrent()) return;
    clear(
      listSlot,
      table(
        [
          { label: t("username"), render: (m) => h("code", {}, m.username) },
          { label: t("role"), render: (m) => roleLabel(m.role) },
          { label: t("created_at"), render: (m) => formatTime(m.created_at) },
        ],
        staff,
        { testid: "staff-table" },
      ),
    );
  }

  if (!ctx.readOnly) {
    clear(formSlot, collapsible(t("new_staff"), form({
      testid: "staff-form",
      submitLabel: t("create"),
      fields: [
        { name: "username", label: t("username"), required: true },
        { name: "password", label: t("staff_password"), type: "password", required: true },
        { name: "role", label: t("role"), type: "select", options: [["maintenance", roleLabel("maintenance")], ["operator-admin", roleLabel("operator-admin")]] },
      ],
      onSubmit: async (values) => {
        await post(base, values);
        clear(messages, notice(t("saved")));
        await reload();
      },
    }), { testid: "new-staff" }));
  }
  await reload();
}
