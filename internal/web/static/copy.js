// Copy and download buttons: for a command on a project's page, and for what a page shows only once (a new API
// token and its .pypirc, recovery codes). The buttons are hidden in the page and shown here, so that without
// JavaScript the text is simply there to select.
//
// A button with data-copy="SELECTOR" copies the text of the element the selector names; data-download="SELECTOR"
// saves it as a file named by data-filename. An element holding several <code> elements (a list of codes) gives
// one code a line.
"use strict";

(function () {
  function textOf(selector) {
    const el = document.querySelector(selector);
    if (!el) return "";
    const codes = el.querySelectorAll("code");
    if (codes.length > 1) return Array.from(codes, (c) => c.textContent.trim()).join("\n");
    return el.textContent.trim();
  }

  function flash(button, text) {
    const was = button.dataset.label || button.textContent;
    button.dataset.label = was;
    button.textContent = text;
    setTimeout(() => {
      button.textContent = was;
    }, 2000);
  }

  // selectAll leaves the text selected for copying by hand when the clipboard refused.
  function selectAll(selector) {
    const el = document.querySelector(selector);
    if (!el) return;
    const range = document.createRange();
    range.selectNodeContents(el);
    const sel = window.getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
  }

  if (navigator.clipboard && window.isSecureContext) {
    for (const button of document.querySelectorAll("button[data-copy]")) {
      button.hidden = false;
      button.addEventListener("click", () => {
        const target = button.dataset.copy;
        navigator.clipboard.writeText(textOf(target)).then(
          () => flash(button, "Copied"),
          () => {
            selectAll(target);
            flash(button, "Copying was refused: the text is selected, copy it by hand");
          },
        );
      });
    }
  }

  if (window.Blob && window.URL && URL.createObjectURL) {
    for (const button of document.querySelectorAll("button[data-download]")) {
      button.hidden = false;
      button.addEventListener("click", () => {
        const blob = new Blob([textOf(button.dataset.download) + "\n"], { type: "text/plain" });
        const url = URL.createObjectURL(blob);
        const a = document.createElement("a");
        a.href = url;
        a.download = button.dataset.filename || "download.txt";
        document.body.appendChild(a);
        a.click();
        a.remove();
        setTimeout(() => URL.revokeObjectURL(url), 1000);
      });
    }
  }
})();
