// subinterp-audit HTML report: expand rows, sort and filter the modules table. No network.
// A module's details are built here when first opened, from the JSON in #report-data: every
// distinct text (messages, stderr tails, tracebacks) and advice is stored there once and
// referred to by index.  Everything goes in as text (textContent), never as markup.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("report-data").textContent);

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    return node;
  }
  function add(parent) {
    for (var i = 1; i < arguments.length; i += 1) {
      var child = arguments[i];
      if (child === null || child === undefined || child === "") { continue; }
      parent.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    }
    return parent;
  }
  // A probe of the page data is an array of the values of data.probe_fields: texts (by
  // index), but the seconds.  As an object, with the texts, and "" for the empty ones.
  function probeObject(values) {
    var probe = {};
    data.probe_fields.forEach(function (field, i) {
      var value = values[i] === undefined ? null : values[i];
      probe[field] = field === "seconds" ? value : text(value);
    });
    if (!probe.css) { probe.css = probe.outcome; }
    if (!probe.mark) { probe.mark = data.marks[probe.outcome] || "?"; }
    return probe;
  }
  function moduleOf(body) {
    var section = body.closest("section.target");
    return data.targets[Number(section.dataset.target) - 1].modules[Number(body.dataset.index)];
  }
  function text(index) { return index === undefined || index === null ? "" : data.texts[index]; }
  function link(title, url) {
    var a = el("a", null, title);
    if (/^https?:\/\//.test(url)) { a.href = url; a.rel = "noreferrer"; }
    return a;
  }
  // A module's name, a link to its row when the table has it.
  function moduleRef(targetIndex, name) {
    var id = "m" + targetIndex + "-" + name;
    var row = document.getElementById(id);
    if (!row || !row.classList.contains("module")) { return el("span", "mono", name); }
    var a = el("a", "mono", name);
    a.href = "#" + id;
    return a;
  }

  function reasonNode(reason, targetIndex) {
    var advice = data.advice[reason.advice];
    var box = el("div", "reason sev-" + (data.bad_codes.indexOf(reason.code) === -1 ? "warn" : "bad"));
    var code = el("span", "code", reason.code);
    if (reason.module) { add(code, ": ", moduleRef(targetIndex, reason.module)); }
    add(box, add(el("div"), el("b", null, advice.title), " ", code));
    add(box, el("p", null, text(reason.message)));
    if (reason.chain && reason.chain.length) {
      var chain = el("p", "chain");
      add(chain, el("span", "muted", "import chain: "));
      reason.chain.forEach(function (name, i) {
        if (i) { add(chain, " → "); }
        add(chain, moduleRef(targetIndex, name));
      });
      add(box, chain);
    }
    if (advice.explanation) { add(box, el("p", "muted", advice.explanation)); }
    if (advice.fix) {
      var label = "Fix" + (advice.toolkit ? " (" + advice.toolkit + ")" : "") + ":";
      add(box, add(el("p", "fix"), el("b", null, label), " " + advice.fix));
    }
    if (reason.probes !== undefined) { add(box, el("p", "muted", "seen in: " + text(reason.probes))); }
    if (advice.links.length) {
      var links = el("ul", "links");
      advice.links.forEach(function (pair) { add(links, add(el("li"), link(pair[0], pair[1]))); });
      add(box, links);
    }
    return box;
  }

  function evidence(probes) {
    var table = el("table", "evidence");
    var head = el("tr");
    ["probe", "outcome", "message", "main after", "end", "stage", "s", "stdout"].forEach(function (h) {
      add(head, el("th", null, h));
    });
    add(table, add(el("thead"), head));
    var tbody = add(table, el("tbody")).lastChild;
    probes.map(probeObject).forEach(function (p) {
      var row = el("tr");
      add(row, el("td", "mono", p.name));
      add(row, add(el("td"), el("span", "cell o-" + p.css, p.mark), " " + p.outcome));
      var msg = el("td", "msg");
      if (p.exception) { add(msg, el("code", null, p.exception), ": "); }
      add(msg, p.message);
      if (p.cause) { add(msg, el("br"), el("span", "muted", "raised from " + p.cause)); }
      if (p.notes) { add(msg, el("br"), el("span", "muted", p.notes)); }
      add(row, msg, el("td", "msg", p.main_after), el("td", null, p.end), el("td", "mono", p.stage),
          el("td", null, (p.seconds || 0).toFixed(2)), el("td", null, p.stdout));
      add(tbody, row);
      [["stacks", "native stacks of " + p.name + " (deadlock)"],
       ["stderr", "stderr of " + p.name + " (last " + p.stderr.length + " characters)"]
      ].forEach(function (pair) {
        if (!p[pair[0]]) { return; }
        var more = el("details", "stderr");
        add(more, el("summary", null, pair[1]), el("pre", "stderr", p[pair[0]]));
        var cell = el("td");
        cell.colSpan = 7;
        add(tbody, add(el("tr"), el("td"), add(cell, more)));
      });
    });
    return add(el("div", "scroll"), table);
  }

  function build(body) {
    var targetIndex = body.closest("section.target").dataset.target;
    var m = moduleOf(body);
    var detail = add(body, el("tr", "detail")).lastChild;
    var cell = add(detail, el("td")).lastChild;
    cell.colSpan = body.querySelector("tr.row").cells.length;
    if (m.reasons.length) {
      add(cell, el("h3", null, "Why " + body.dataset.verdict + ", and what to do"));
      m.reasons.forEach(function (r) { add(cell, reasonNode(r, targetIndex)); });
    } else {
      add(cell, add(el("p"), "Every probe passed: this module can be used with ",
                    el("code", null, "concurrent.interpreters"), "."));
    }
    add(cell, el("h3", null, "Module"));
    var kv = el("dl", "kv");
    var tk = add(el("dd"), m.toolkit);
    if (m.toolkit_evidence !== null) { add(tk, " ", el("span", "muted", "(" + text(m.toolkit_evidence) + ")")); }
    add(kv, el("dt", null, "path"), el("dd", "mono", m.path), el("dt", null, "init"),
        el("dd", null, text(m.init)), el("dt", null, "toolkit"), tk);
    add(cell, kv);
    if (m.hints.length) {
      add(cell, add(el("h3", null, "Static hints "),
                    el("span", "muted", "(C-API symbols the module imports; hints, not the verdict)")));
      var hints = el("ul", "hints");
      m.hints.forEach(function (h) {
        add(hints, add(el("li"), el("span", "hint " + h[0], {red_flag: "red flag", good_sign: "good sign", note: "note"}[h[0]] || h[0]),
                       " ", el("code", null, h[1]), ": " + text(h[2])));
      });
      add(cell, hints);
    }
    add(cell, el("h3", null, "Evidence"), evidence(m.probes));
    body.dataset.built = "1";
  }

  // A cell gets its title (the probe, its outcome, the messages) when first hovered.
  document.addEventListener("mouseover", function (event) {
    var cell = event.target;
    if (!cell.classList || !cell.classList.contains("cell") || cell.title) { return; }
    var row = cell.closest("tr.row");
    if (!row) { return; }
    var td = cell.closest("td.probe");
    var column = Array.prototype.indexOf.call(row.querySelectorAll("td.probe"), td);
    var name = data.cells[column][Array.prototype.indexOf.call(td.querySelectorAll(".cell"), cell)];
    cell.title = name + ": not applicable";
    moduleOf(row.parentNode).probes.map(probeObject).forEach(function (p) {
      if (p.name !== name) { return; }
      var lines = [p.title];
      if (p.message) { lines.push((p.exception ? p.exception + ": " : "") + p.message); }
      if (p.main_after && p.css === "poisoned") { lines.push("then main: " + p.main_after); }
      cell.title = lines.join("\n");
    });
  });

  function toggle(body) {
    var open = !body.classList.contains("open");
    if (open && !body.dataset.built) { build(body); }
    body.classList.toggle("open", open);
    body.querySelector("tr.detail").hidden = !open;
    body.querySelector("tr.row").setAttribute("aria-expanded", String(open));
  }
  // A link to "#m<target>-<module>" opens that module's details.
  function openModule(id) {
    var body = id && document.getElementById(id);
    if (body && body.classList.contains("module")) {
      if (!body.classList.contains("open")) { toggle(body); }
      body.classList.remove("hidden");  // shown even when the filters hide it
      body.scrollIntoView({block: "start"});
    }
  }
  function openFromHash() { openModule(decodeURIComponent(location.hash.slice(1))); }
  window.addEventListener("hashchange", openFromHash);
  // The same link clicked again changes no hash: open the module anyway.
  document.addEventListener("click", function (event) {
    var a = event.target.closest && event.target.closest("a[href^='#m']");
    if (a && decodeURIComponent(a.getAttribute("href").slice(1)) === decodeURIComponent(location.hash.slice(1))) {
      openModule(decodeURIComponent(location.hash.slice(1)));
    }
  });
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
      var d = body.dataset;
      body.searchText = [d.name, d.dist, d.toolkit, d.verdict, d.codes].join(" ").toLowerCase();
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
        var text = body.searchText;
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
