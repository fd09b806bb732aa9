// Operators (merchants): platform admins only.

import { listAll, patch, post } from "../api.js";
import { t } from "../i18n.js";
import { clear, collapsible, form, formatTime, h, loading, notice, table } from "../ui.js";

export async function render(ctx, main, isCurrent) {
  const messages = h("div", {});
  const formSlot = h("div", {});
  const listSlot = h("div", {}, loading());
  clear(main, h("div", { class: "page-head" }, h("h2", {}, t("nav_operators"))), messages, formSlot, listSlot);

  function operatorForm(op, save) {
    return form({
      testid: op ? "operator-edit-form" : "operator-form",
      submitLabel: op ? t("save") : t("create"),
      fields: [
        { name: "name", label: t("name"), required: true, value: op?.name },
        { name: "contact_name", label: t("contact_name"), value: op?.contact_name },
        { name: "contact_phone", label: t("contact_phone"), value: op?.contact_phone },
      ],
      onSubmit: async (values) => {
        const body = { name: values.name };
        if (values.contact_name) body.contact_name = values.contact_name;
        if (values.contact_phone) body.contact_phone = values.contact_phone;
        await save(body);
        clear(messages, notice(t("saved")));
        await ctx.reloadOperators();
      },
    });
  }

  function edit(op) {
    clear(
      formSlot,
      collapsible(`${t("edit")}: ${op.name}`, operatorForm(op, (body) => patch(`/operator/operators/${encodeURIComponent(op.operator_id)}`, body)), { open: true }),
      h("button", { class: "btn link", onclick: () => reload() }, t("cancel")),
    );
    formSlot.scrollIntoView({ block: "start" });
  }

  async function reload() {
    const operators = await listAll("/operator/operators");
    if (!isCurrent()) return;
    clear(formSlot, collapsible(t("new_operator"), operatorForm(null, (body) => post("/operator/operators", body)), { testid: "new-operator" }));
    clear(
      listSlot,
      table(
        [
          { label: t("name"), render: (op) => h("strong", {}, op.name) },
          { label: t("operator_id"), render: (op) => h("code", {}, op.operator_id) },
          { label: t("contact_name"), render: (op) => op.contact_name ?? "" },
          { label: t("contact_phone"), render: (op) => op.contact_phone ?? "" },
          { label: t("created_at"), render: (op) => formatTime(op.created_at) },
          {
            label: t("actions"),
            render: (op) => h("button", { class: "btn small", onclick: () => edit(op) }, t("edit")),
          },
        ],
        operators,
        { testid: "operators-table" },
      ),
    );
  }
  await reload();
}
