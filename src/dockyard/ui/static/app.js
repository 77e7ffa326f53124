// dockyard web UI: copy-to-clipboard buttons. No inline script anywhere (the CSP forbids it).
(function () {
  "use strict";
  function announce(text) {
    var status = document.getElementById("status");
    if (!status) { return; }
    status.textContent = text;
    window.clearTimeout(announce.timer);
    announce.timer = window.setTimeout(function () { status.textContent = ""; }, 4000);
  }
  function copyFrom(input) {
    input.focus();
    input.select();
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(input.value);
    }
    return new Promise(function (resolve, reject) {
      // eslint-disable-next-line no-restricted-properties
      if (document.execCommand("copy")) { resolve(); } else { reject(new Error("copy refused")); }
    });
  }
  document.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-copy]");
    if (!button) { return; }
    var input = document.getElementById(button.getAttribute("data-copy"));
    if (!input) { return; }
    copyFrom(input).then(function () {
      button.textContent = "Copied";
      announce("Copied: " + input.value);
      window.setTimeout(function () { button.textContent = "Copy"; }, 2000);
    }, function () {
      announce("Press Ctrl+C (or Cmd+C) to copy the selected command.");
    });
  });
})();
