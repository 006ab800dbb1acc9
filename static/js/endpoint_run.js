// A queued or running endpoint run's page reloads every 3 seconds, so its progress bar moves.
(function () {
  "use strict";
  if (document.querySelector("[data-live-run]")) {
    window.setTimeout(function () { window.location.reload(); }, 3000);
  }
})();
