// Card users (RFID/IC): issue, top up, freeze / unfreeze, unbind. Balances are int fen.

import { get, listAll, mapLimit, post } from "../api.js";
import { t } from "../i18n.js";
import { formatMoney, parseYuan } from "../money.js";
import { clear, collapsible, errorBox, form, h, loading, notice, table } from "../ui.js";
import { needOperator } from "./common.js";
import { operatorQuery } from "./fleet.js";

export async function render(ctx, main, isCurrent) {
  if (needOperator(ctx, main)) return;
  const messages = h("div", {});
  const formSlot = h("div", {});
  const listSlot = h("div", {}, loading());
  clear(main, h("div", { class: "page-head" }, h("h2", {}, t("nav_cards"))), messages, formSlot, listSlot);

  if (!ctx.readOnly) {
    clear(formSlot, collapsible(t("issue_card"), form({
      testid: "card-form",
      submitLabel: t("issue_card"),
      fields: [
        { name: "card_no", label: t("card_no"), required: true },
        { name: "holder_name", label: t("holder_name"), required: true },
        { name: "phone", label: t("phone"), required: true },
      ],
      onSubmit: async (values) => {
        const body = { ...values };
        if (ctx.isPlatformAdmin) body.operator_id = ctx.operatorId;
        await post("/operator/cards", body);
        clear(messages, notice(t("saved")));
        await reload();
      },
    }), { testid: "new-card" }));
  }

  async function act(work) {
    try {
      await work();
      clear(messages, notice(t("saved")));
    } catch (error) {
      clear(messages, errorBox(error));
    }
    await reload();
  }

  async function reload() {
    const cards = await listAll("/operator/cards", operatorQuery(ctx));
    const detailed = await mapLimit(cards, 6, async (card) => {
      if (Number.isSafeInteger(card.balance_fen)) return card;
      try {
        return { ...card, ...(await get(`/operator/cards/${encodeURIComponent(card.card_no)}`)) };
      } catch {
        return card;
      }
    });
    if (!isCurrent()) return;
    clear(
      listSlot,
      table(
        [
          { label: t("card_no"), render: (c) => h("code", {}, c.card_no) },
          { label: t("holder_name"), render: (c) => c.holder_name },
          { label: t("phone"), render: (c) => c.phone },
          { label: t("balance"), class: "num", render: (c) => h("span", { "data-testid": `balance-${c.card_no}` }, Number.isSafeInteger(c.balance_fen) ? formatMoney(c.balance_fen) : "—") },
          { label: t("status"), render: (c) => h("span", { class: `badge badge-card-${c.status}` }, t(`card_${c.status}`)) },
          { label: t("actions"), render: (c) => (ctx.readOnly || c.status === "unbound" ? "" : cardActions(c, act)) },
        ],
        detailed,
        { testid: "cards-table" },
      ),
    );
  }
  await reload();
}

function cardActions(card, act) {
  const path = `/operator/cards/${encodeURIComponent(card.card_no)}`;
  const amount = h("input", { class: "amount", placeholder: "100.00", size: 8, "data-testid": `topup-amount-${card.card_no}` });
  const refund = h("input", { type: "checkbox" });
  return h(
    "div",
    { class: "row-actions" },
    h(
      "form",
      {
        class: "inline",
        onsubmit: (event) => {
          event.preventDefault();
          act(async () => {
            const fen = parseYuan(amount.value);
            if (fen === null) throw new Error(t("bad_amount"));
            // One request id per click: a retried request cannot credit twice.
            await post(`${path}/top-ups`, { amount_fen: fen, request_id: crypto.randomUUID() });
          });
        },
      },
      amount,
      h("button", { type: "submit", class: "btn small primary" }, t("top_up")),
    ),
    card.status === "frozen"
      ? h("button", { class: "btn small", onclick: () => act(() => post(`${path}/unfreeze`)) }, t("unfreeze"))
      : h("button", { class: "btn small", onclick: () => act(() => post(`${path}/freeze`)) }, t("freeze")),
    h(
      "span",
      { class: "inline" },
      h("label", { class: "muted small" }, refund, t("refund_on_unbind")),
      h(
        "button",
        {
          class: "btn small danger",
          onclick: () => {
            if (window.confirm(`${t("unbind")} ${card.card_no}?`)) {
              act(() => post(`${path}/unbind`, refund.checked ? { refund_balance: true } : {}));
            }
          },
        },
        t("unbind"),
      ),
    ),
  );
}
