// Keeps what the user types on a form page on the server (never in the browser's storage), a
// couple of seconds after the last keystroke, so a session that ends mid-form loses nothing.
(function () {
  "use strict";
  var form = document.querySelector("form[data-draft-url]");
  if (!form) { return; }
  var timer = null;
  function keep() {
    var data = new FormData(form);
    data.append("draft_path", window.location.pathname);
    fetch(form.dataset.draftUrl, {
      method: "POST",
      body: data,
      credentials: "same-origin",
      headers: {"X-CSRFToken": data.get("csrfmiddlewaretoken")}
    }).catch(function () {});
  }
  function later() {
    if (timer) { clearTimeout(timer); }
    timer = setTimeout(keep, 1500);
  }
  form.addEventListener("input", later);
  form.addEventListener("change", later);
})();
