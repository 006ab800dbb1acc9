// Warns before a session ends (idle 30 min, absolute 12 h) and lets the user keep an idle one.
// Before warning or leaving the page it asks the server, so another tab's activity counts and a
// form is never abandoned while the session is still alive.
(function () {
  "use strict";
  var box = document.getElementById("session-warning");
  if (!box) { return; }
  var idle = parseInt(box.dataset.idleTimeout, 10);
  var warnAt = parseInt(box.dataset.warning, 10);
  var countdown = box.querySelector("[data-countdown]");
  var stay = box.querySelector("[data-stay]");
  var idleDeadline = Date.now() + idle * 1000;
  var absoluteDeadline = Date.now() + parseInt(box.dataset.absoluteRemaining, 10) * 1000;
  var checkedAt = 0;

  function fmt(seconds) {
    var m = Math.floor(seconds / 60), s = seconds % 60;
    return m + ":" + (s < 10 ? "0" : "") + s;
  }
  function secondsLeft() {
    return Math.round((Math.min(idleDeadline, absoluteDeadline) - Date.now()) / 1000);
  }
  function refresh(then) {
    checkedAt = Date.now();
    fetch(box.dataset.statusUrl, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (r) { return r.ok ? r.json() : {idle: 0, absolute: 0}; })
      .then(function (left) {
        idleDeadline = Date.now() + (left.idle || 0) * 1000;
        absoluteDeadline = Date.now() + (left.absolute || 0) * 1000;
        then();
      })
      .catch(then);
  }
  function show() {
    var left = secondsLeft();
    if (left <= 0) {
      window.location.href = box.dataset.loginUrl + "?next=" + encodeURIComponent(window.location.pathname);
      return;
    }
    if (left <= warnAt) {
      box.hidden = false;
      countdown.textContent = fmt(left);
      // The absolute limit cannot be extended: only offer "stay" against the idle one.
      stay.hidden = absoluteDeadline <= idleDeadline;
    } else {
      box.hidden = true;
    }
  }
  function tick() {
    if (secondsLeft() <= warnAt && Date.now() - checkedAt > 15000) {
      refresh(show);
    } else {
      show();
    }
  }
  stay.addEventListener("click", function () {
    var token = box.querySelector("input[name=csrfmiddlewaretoken]").value;
    fetch(box.dataset.keepaliveUrl, {method: "POST", headers: {"X-CSRFToken": token}, credentials: "same-origin"})
      .then(function (r) {
        if (r.ok) { idleDeadline = Date.now() + idle * 1000; box.hidden = true; }
      });
  });
  setInterval(tick, 1000);
})();
