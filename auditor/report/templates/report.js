// subinterp-audit HTML report: expand rows, sort and filter the modules table. No network.
(function () {
  "use strict";
  function toggle(body) {
    var open = !body.classList.contains("open");
    body.classList.toggle("open", open);
    body.querySelector("tr.detail").hidden = !open;
    body.querySelector("tr.row").setAttribute("aria-expanded", String(open));
  }
  // A link to "#m<target>-<module>" opens that module's details.
  function openFromHash() {
    var id = decodeURIComponent(location.hash.slice(1));
    var body = id && document.getElementById(id);
    if (body && body.classList.contains("module")) {
      if (!body.classList.contains("open")) { toggle(body); }
      body.scrollIntoView({block: "start"});
    }
  }
  window.addEventListener("hashchange", openFromHash);
  document.addEventListener("DOMContentLoaded", openFromHash);

  document.querySelectorAll("section.target").forEach(function (section) {
    var table = section.querySelector("table.modules");
    var bodies = Array.prototype.slice.call(table.querySelectorAll("tbody.module"));
    var search = section.querySelector(".filters input[type=search]");
    var verdictSelect = section.querySelector(".f-verdict");
    var toolkitSelect = section.querySelector(".f-toolkit");
    var shown = section.querySelector(".filters .shown");
    var chips = Array.prototype.slice.call(section.querySelectorAll(".chip"));

    bodies.forEach(function (body) {
      var row = body.querySelector("tr.row");
      row.addEventListener("click", function () { toggle(body); });
      row.addEventListener("keydown", function (event) {
        if (event.key === "Enter" || event.key === " ") { event.preventDefault(); toggle(body); }
      });
    });

    function applyFilters() {
      var words = search.value.toLowerCase().split(/\s+/).filter(Boolean);
      var verdict = verdictSelect.value, toolkit = toolkitSelect.value, count = 0;
      bodies.forEach(function (body) {
        var text = body.dataset.search;
        var ok = (!verdict || body.dataset.verdict === verdict) &&
                 (!toolkit || body.dataset.toolkit === toolkit) &&
                 words.every(function (w) { return text.indexOf(w) !== -1; });
        body.classList.toggle("hidden", !ok);
        if (ok) { count += 1; }
      });
      shown.textContent = String(count);
      chips.forEach(function (chip) {
        chip.setAttribute("aria-pressed", String(chip.dataset.verdict === verdict));
      });
    }
    search.addEventListener("input", applyFilters);
    verdictSelect.addEventListener("change", applyFilters);
    toolkitSelect.addEventListener("change", applyFilters);
    chips.forEach(function (chip) {
      chip.addEventListener("click", function () {
        verdictSelect.value = verdictSelect.value === chip.dataset.verdict ? "" : chip.dataset.verdict;
        applyFilters();
      });
    });

    table.querySelectorAll("th[data-sort]").forEach(function (th) {
      th.addEventListener("click", function () {
        var key = th.dataset.sort;
        var ascending = th.getAttribute("aria-sort") !== "ascending";
        table.querySelectorAll("th[data-sort]").forEach(function (other) { other.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
        bodies.sort(function (a, b) {
          var x = a.dataset[key], y = b.dataset[key];
          var cmp = key === "rank" ? Number(x) - Number(y) : x.localeCompare(y);
          if (cmp === 0) { cmp = a.dataset.name.localeCompare(b.dataset.name); }
          return ascending ? cmp : -cmp;
        });
        bodies.forEach(function (body) { table.appendChild(body); });
      });
    });
  });
  document.documentElement.setAttribute("data-ready", "1");
})();
