// Landing pages: a copy button for the citation. Without script the citation is plain,
// selectable text and the button stays hidden.
"use strict";

document.querySelectorAll("button[data-copy]").forEach((button) => {
  const source = document.getElementById(button.dataset.copy);
  const status = button.parentElement.querySelector(".copy-status");
  const label = button.textContent;
  button.hidden = false;
  button.addEventListener("click", async () => {
    const text = source.textContent.trim();
    try {
      await navigator.clipboard.writeText(text);
    } catch (error) {
      // no clipboard permission (plain http, old browsers): select it for Ctrl+C instead
      const range = document.createRange();
      range.selectNodeContents(source);
      const selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
    }
    button.textContent = button.dataset.done;
    if (status) status.textContent = button.dataset.done;
    setTimeout(() => { button.textContent = label; }, 2000);
  });
});
