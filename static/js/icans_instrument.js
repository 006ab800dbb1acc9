// ICANS form: only the chosen instrument's items are shown (ICE or CAPD, CLINICAL_SPEC §2.1);
// with no instrument chosen, the protocol default for the subject's age (data-instrument-choice,
// computed by the server, §2.3). Hidden items keep no value, so they are never saved unseen.
(function () {
  "use strict";
  var choice = document.querySelector("[data-instrument-choice]");
  if (!choice) { return; }
  var fallback = choice.dataset.instrumentChoice;

  function wrapper(input) {
    return input.closest(".field") || input.parentElement;
  }
  function show() {
    var chosen = choice.value || fallback;
    document.querySelectorAll("[data-instrument-item]").forEach(function (input) {
      var hide = chosen !== "" && input.dataset.instrumentItem !== chosen;
      wrapper(input).hidden = hide;
      if (hide && input.value !== "") {
        input.value = "";
        input.dispatchEvent(new Event("change", {bubbles: true}));
      }
    });
  }
  choice.addEventListener("change", show);
  show();
})();
