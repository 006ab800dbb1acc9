// Warns before an idle session ends and lets the user keep it (DESIGN: idle timeout 30 min).
(function () {
  "use strict";
  var box = document.getElementById("session-warning");
  if (!box) { return; }
  var idle = parseInt(box.dataset.idleTimeout, 10);
  var warnAt = parseInt(box.dataset.warning, 10);
  var countdown = box.querySelector("[data-countdown]");
  var deadline = Date.now() + idle * 1000;

  function fmt(seconds) {
    var m = Math.floor(seconds / 60), s = seconds % 60;
    return m + ":" + (s < 10 ? "0" : "") + s;
  }
  function tick() {
    var left = Math.round((deadline - Date.now()) / 1000);
    if (left <= 0) {
      window.location.href = box.dataset.loginUrl + "?next=" + encodeURIComponent(window.location.pathname);
      return;
    }
    if (left <= warnAt) {
      box.hidden = false;
      countdown.textContent = fmt(left);
    }
  }
  box.querySelector("[data-stay]").addEventListener("click", function () {
    var token = box.querySelector("input[name=csrfmiddlewaretoken]").value;
    fetch(box.dataset.keepaliveUrl, {method: "POST", headers: {"X-CSRFToken": token}, credentials: "same-origin"})
      .then(function (r) {
        if (r.ok) { deadline = Date.now() + idle * 1000; box.hidden = true; }
      });
  });
  setInterval(tick, 1000);
})();
