// CTCAE v5.0 term picker (CLINICAL_SPEC §3): type part of the term, the system organ class or the
// MedDRA code; the server searches and the matches appear as a list. Arrow keys move, Enter picks,
// Escape closes; a mouse click picks too. Self-hosted, no CDN.
(function () {
  "use strict";
  document.querySelectorAll("input[data-term-picker]").forEach(function (input) {
    var url = input.dataset.termPicker;
    var list = document.createElement("ul");
    list.id = input.id + "-options";
    list.className = "term-options";
    list.setAttribute("role", "listbox");
    list.hidden = true;
    input.setAttribute("aria-controls", list.id);
    input.insertAdjacentElement("afterend", list);
    var active = -1;
    var timer = null;
    var asked = 0;

    function options() { return list.querySelectorAll("[role=option]"); }
    function close() {
      list.hidden = true;
      active = -1;
      input.setAttribute("aria-expanded", "false");
      input.removeAttribute("aria-activedescendant");
    }
    function highlight(index) {
      var items = options();
      if (!items.length) { return; }
      active = (index + items.length) % items.length;
      items.forEach(function (item, i) { item.setAttribute("aria-selected", i === active ? "true" : "false"); });
      input.setAttribute("aria-activedescendant", items[active].id);
      items[active].scrollIntoView({block: "nearest"});
    }
    function pick(item) {
      input.value = item.dataset.term;
      close();
      input.dispatchEvent(new Event("change", {bubbles: true}));
    }
    function show(terms) {
      list.innerHTML = "";
      terms.forEach(function (t, i) {
        var li = document.createElement("li");
        li.id = list.id + "-" + i;
        li.setAttribute("role", "option");
        li.dataset.term = t.term;
        var name = document.createElement("strong");
        name.textContent = t.label || t.term;
        var detail = document.createElement("small");
        detail.textContent = " · " + (t.soc_label || t.soc) + " · MedDRA " + t.meddra_code + " · G" + t.grades.join("/");
        li.appendChild(name);
        li.appendChild(detail);
        li.addEventListener("mousedown", function (event) { event.preventDefault(); pick(li); });
        list.appendChild(li);
      });
      list.hidden = terms.length === 0;
      input.setAttribute("aria-expanded", terms.length ? "true" : "false");
      active = -1;
    }
    function search() {
      var q = input.value.trim();
      if (q.length < 2) { show([]); return; }
      var ticket = ++asked;
      fetch(url + "?q=" + encodeURIComponent(q), {credentials: "same-origin"})
        .then(function (r) { return r.ok ? r.json() : {terms: []}; })
        .then(function (data) { if (ticket === asked) { show(data.terms); } })
        .catch(function () {});
    }
    input.addEventListener("input", function () {
      if (timer) { clearTimeout(timer); }
      timer = setTimeout(search, 200);
    });
    input.addEventListener("keydown", function (event) {
      if (list.hidden) { return; }
      if (event.key === "ArrowDown") { event.preventDefault(); highlight(active + 1); }
      else if (event.key === "ArrowUp") { event.preventDefault(); highlight(active - 1); }
      else if (event.key === "Enter" && active >= 0) { event.preventDefault(); pick(options()[active]); }
      else if (event.key === "Escape") { close(); }
    });
    input.addEventListener("blur", function () { setTimeout(close, 150); });
  });
})();
