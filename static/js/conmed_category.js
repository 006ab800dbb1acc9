// Con-med form: pre-fills the category from the ATC code as it is typed (longest listed prefix,
// the table comes from clinical/conmeds.py through the field's data attribute). Never reads the
// medication name. A category the coordinator picked by hand is never overwritten.
(function () {
  "use strict";
  var atc = document.querySelector("input[data-atc-categories]");
  var category = document.querySelector("select[data-atc-category]");
  if (!atc || !category) { return; }
  var table = JSON.parse(atc.dataset.atcCategories);
  var auto = category.value === "" ? "" : null; // null: chosen by hand (or saved), leave it
  var note = document.createElement("small");
  note.className = "help prefilled";
  note.setAttribute("role", "status");
  category.insertAdjacentElement("afterend", note);

  function suggestion(code) {
    code = code.replace(/\s+/g, "").toUpperCase();
    var best = "";
    Object.keys(table).forEach(function (prefix) {
      if (code.indexOf(prefix) === 0 && prefix.length > best.length) { best = prefix; }
    });
    return best ? table[best] : "";
  }
  atc.addEventListener("input", function () {
    if (auto === null) { return; }
    var found = suggestion(atc.value);
    if (found === auto) { return; }
    category.value = found;
    auto = found;
    note.textContent = found ? atc.dataset.prefilledNote : "";
    category.dispatchEvent(new Event("change", {bubbles: true}));
  });
  category.addEventListener("change", function (event) {
    if (event.isTrusted) {
      auto = category.value === "" ? "" : null; // cleared by hand: the ATC code may fill it again
      note.textContent = "";
    }
  });
})();
