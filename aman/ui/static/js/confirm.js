// The confirm dialog of destructive actions; it also asks the operator's name once, for the
// audit log, and remembers it in this browser.

import { operator, setOperator } from "./api.js";

export function confirmAction(text, { label = "Confirm" } = {}) {
  const dialog = document.getElementById("confirm-dialog");
  const input = document.getElementById("operator");
  const row = document.getElementById("operator-row");
  document.getElementById("confirm-text").textContent = text;
  document.getElementById("confirm-ok").textContent = label;
  const known = operator();
  row.hidden = Boolean(known);
  input.required = !known;
  input.value = known;
  dialog.returnValue = "";
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => {
      const ok = dialog.returnValue === "ok";
      if (ok && !known) setOperator(input.value);
      resolve(ok);
    }, { once: true });
    dialog.showModal();
    (known ? document.getElementById("confirm-ok") : input).focus();
  });
}
