/* xai-report's own page script (no library): sortable tables and the neuron filter of the layer pages.
 *
 * Sorting: a click (or Enter) on a column header orders the table's rows by that column, ascending, then
 * descending. A column whose filled cells all start with a number ("0.412 (beats random)", "12.5%", "3/10",
 * "0.31 ± 0.05") sorts by that number, others alphabetically; empty, "n/a" and "—" cells go last. Ties keep
 * the page's order (a stable sort).
 * Filtering: a search box above .xai-neurons hides the neuron cards whose text (label, runners-up, category)
 * does not contain every word typed. Above .xai-image-index (the index of all images), a box hides the rows whose
 * text lacks a word typed, a menu keeps the correct or the wrong predictions, and a range keeps the rows whose
 * chosen numeric column (an AUC) lies between two numbers.
 * Choosing methods: the picker (.xai-picker, one checkbox per method and per family) of the gallery and the image
 * pages hides the unticked methods' figures and table columns, and a family whose methods are all unticked; the
 * lightbox then flips through the pictures still shown. The choice (the methods left out) is kept in localStorage
 * under a key of the site's own address, so it holds on every page of this site and on no other's.
 */
(function () {
  "use strict";

  var NUMBER = /^\s*([+\-\u2212]?(?:\d+(?:\.\d*)?|\.\d+)(?:e[+\-]?\d+)?)/i;
  var MISSING = /^\s*(|n\/a|\u2014|-)\s*$/i;
  // The site's root is where this script's folder lies: known only while the script first runs.
  var SCRIPT = document.currentScript ? document.currentScript.src : "";
  var HIDDEN_KEY = "xai-report.hidden-methods@" + SCRIPT.replace(/javascripts\/xai-report\.js(\?.*)?$/, "");

  function cellKey(cell) {
    var text = cell ? cell.textContent : "";
    if (MISSING.test(text)) return null;
    var match = NUMBER.exec(text);
    return match ? { num: parseFloat(match[1].replace("\u2212", "-")), text: text } : { num: NaN, text: text.trim() };
  }

  function sortBy(table, column, header) {
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var keys = rows.map(function (row, i) { return { row: row, i: i, key: cellKey(row.cells[column]) }; });
    var numeric = keys.every(function (k) { return k.key === null || !isNaN(k.key.num); });
    var descending = header.getAttribute("aria-sort") === "ascending";
    var sign = descending ? -1 : 1;
    keys.sort(function (a, b) {
      if (a.key === null || b.key === null) {
        return a.key === b.key ? a.i - b.i : (a.key === null ? 1 : -1);
      }
      var order = numeric ? a.key.num - b.key.num : a.key.text.localeCompare(b.key.text, undefined, { numeric: true });
      return order !== 0 ? sign * order : a.i - b.i;
    });
    keys.forEach(function (k) { body.appendChild(k.row); });
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th) { th.removeAttribute("aria-sort"); });
    header.setAttribute("aria-sort", descending ? "descending" : "ascending");
  }

  function sortable(table) {
    if (table.dataset.xaiSortable || !table.tHead || !table.tBodies.length || table.tBodies[0].rows.length < 2) return;
    table.dataset.xaiSortable = "1";
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, column) {
      th.setAttribute("data-sort", "");
      th.setAttribute("tabindex", "0");
      th.setAttribute("title", "Sort by this column");
      th.addEventListener("click", function () { sortBy(table, column, th); });
      th.addEventListener("keydown", function (event) {
        if (event.key === "Enter" || event.key === " ") { event.preventDefault(); sortBy(table, column, th); }
      });
    });
  }

  function filterable(container) {
    if (container.dataset.xaiFilter) return;
    container.dataset.xaiFilter = "1";
    var cards = Array.prototype.slice.call(container.querySelectorAll(".xai-neuron"));
    var bar = document.createElement("div");
    bar.className = "xai-filter";
    var input = document.createElement("input");
    input.type = "search";
    input.placeholder = "Filter neurons by label or category";
    input.setAttribute("aria-label", input.placeholder);
    var count = document.createElement("span");
    bar.appendChild(input);
    bar.appendChild(count);
    container.parentNode.insertBefore(bar, container);
    var texts = cards.map(function (card) {
      var parts = card.querySelectorAll(".xai-text");
      return Array.prototype.map.call(parts.length ? parts : [card], function (p) { return p.textContent; })
        .join(" ").toLowerCase();
    });
    function apply() {
      var words = input.value.toLowerCase().split(/\s+/).filter(Boolean);
      var shown = 0;
      cards.forEach(function (card, i) {
        var match = words.every(function (w) { return texts[i].indexOf(w) >= 0; });
        card.hidden = !match;
        shown += match ? 1 : 0;
      });
      count.textContent = shown + " of " + cards.length + " neurons shown";
    }
    input.addEventListener("input", apply);
    apply();
  }

  function control(tag, props) {
    var el = document.createElement(tag);
    Object.keys(props).forEach(function (k) { el[k] = props[k]; });
    if (props.placeholder) el.setAttribute("aria-label", props.placeholder);
    return el;
  }

  function option(select, value, text) {
    var o = document.createElement("option");
    o.value = value;
    o.textContent = text;
    select.appendChild(o);
  }

  function rowFilter(container) {
    var table = container.querySelector("table");
    if (container.dataset.xaiFilter || !table || !table.tHead || !table.tBodies.length) return;
    container.dataset.xaiFilter = "1";
    var heads = Array.prototype.map.call(table.tHead.rows[0].cells, function (th) { return th.textContent.trim(); });
    var verdict = heads.indexOf("Top-1");
    var bar = control("div", { className: "xai-filter" });
    var words = control("input", { type: "search", placeholder: "Filter by image or class" });
    var which = control("select", { title: "Correct or wrong" });
    option(which, "", "correct and wrong");
    option(which, "correct", "correct only");
    option(which, "wrong", "wrong only");
    var column = control("select", { title: "Column of the range" });
    heads.forEach(function (h, i) { if (/AUC/.test(h)) option(column, String(i), h); });
    var low = control("input", { type: "number", step: "0.01", placeholder: "from" });
    var high = control("input", { type: "number", step: "0.01", placeholder: "to" });
    var count = control("span", {});
    [words, which, column, low, high, count].forEach(function (el) { bar.appendChild(el); });
    container.parentNode.insertBefore(bar, container);
    function apply() {
      var typed = words.value.toLowerCase().split(/\s+/).filter(Boolean);
      var lo = parseFloat(low.value), hi = parseFloat(high.value), col = parseInt(column.value, 10);
      var rows = table.tBodies[0].rows, shown = 0;
      Array.prototype.forEach.call(rows, function (row) {
        var text = row.textContent.toLowerCase();
        var ok = typed.every(function (w) { return text.indexOf(w) >= 0; });
        if (ok && which.value && verdict >= 0) ok = row.cells[verdict].textContent.trim() === which.value;
        if (ok && !isNaN(col) && (!isNaN(lo) || !isNaN(hi))) {
          var v = parseFloat(row.cells[col].textContent);
          ok = !isNaN(v) && (isNaN(lo) || v >= lo) && (isNaN(hi) || v <= hi);
        }
        row.hidden = !ok;
        shown += ok ? 1 : 0;
      });
      count.textContent = shown + " of " + rows.length + " images shown";
    }
    [words, low, high].forEach(function (el) { el.addEventListener("input", apply); });
    [which, column].forEach(function (el) { el.addEventListener("change", apply); });
    apply();
  }

  function loadHidden() {
    try {
      var list = JSON.parse(window.localStorage.getItem(HIDDEN_KEY) || "[]");
      return Array.isArray(list) ? list.filter(function (m) { return typeof m === "string"; }) : [];
    } catch (e) {
      return [];  // storage disabled or a value not ours: show every method
    }
  }

  function saveHidden(hidden) {
    try { window.localStorage.setItem(HIDDEN_KEY, JSON.stringify(hidden)); } catch (e) { /* not remembered */ }
  }

  function each(root, selector, fn) { Array.prototype.forEach.call(root.querySelectorAll(selector), fn); }

  function hideColumns(table, hidden) {
    var body = table.tBodies[0];
    if (!body || !body.rows.length) return;
    var methodOf = Array.prototype.map.call(body.rows[0].cells, function (cell) {
      var img = cell.querySelector("img[data-method]");
      return img ? img.getAttribute("data-method") : null;
    });
    if (!methodOf.some(Boolean)) return;
    Array.prototype.forEach.call(table.rows, function (row) {
      Array.prototype.forEach.call(row.cells, function (cell, i) {
        if (methodOf[i]) cell.hidden = hidden.indexOf(methodOf[i]) >= 0;
      });
    });
  }

  function refreshLightbox(scope) {
    // GLightbox flips through the anchors of class "glightbox": a hidden picture's anchor leaves the set.
    each(scope, "a.glightbox, a.xai-glightbox-off", function (a) {
      var off = Boolean(a.closest("[hidden]"));
      a.classList.toggle("glightbox", !off);
      a.classList.toggle("xai-glightbox-off", off);
    });
    /* global lightbox */
    if (typeof lightbox !== "undefined" && lightbox && typeof lightbox.getElements === "function") {
      lightbox.elements = lightbox.getElements();
    }
  }

  function picker(box) {
    if (box.dataset.xaiReady) return;
    box.dataset.xaiReady = "1";
    var scope = box.closest("article") || document;
    var methods = Array.prototype.slice.call(box.querySelectorAll("input[data-method]"));
    function apply(hidden) {
      methods.forEach(function (input) { input.checked = hidden.indexOf(input.getAttribute("data-method")) < 0; });
      each(box, "fieldset[data-family]", function (set) {
        var own = set.querySelectorAll("input[data-method]");
        var shown = Array.prototype.filter.call(own, function (i) { return i.checked; }).length;
        var all = set.querySelector("input[data-family]");
        all.checked = shown > 0;
        all.indeterminate = shown > 0 && shown < own.length;
        each(scope, '.xai-family[data-family="' + set.getAttribute("data-family") + '"]',
             function (block) { block.hidden = shown === 0; });
      });
      each(scope, "figure[data-method]", function (f) { f.hidden = hidden.indexOf(f.getAttribute("data-method")) >= 0; });
      each(scope, "table", function (t) { hideColumns(t, hidden); });
      refreshLightbox(scope);
    }
    function chosen() {
      return methods.filter(function (i) { return !i.checked; }).map(function (i) { return i.getAttribute("data-method"); });
    }
    box.addEventListener("change", function (event) {
      var input = event.target;
      if (input.hasAttribute("data-family")) {
        each(input.closest("fieldset"), "input[data-method]", function (i) { i.checked = input.checked; });
      }
      // methods of other pages stay as they were chosen there
      var here = methods.map(function (i) { return i.getAttribute("data-method"); });
      var hidden = loadHidden().filter(function (m) { return here.indexOf(m) < 0; }).concat(chosen());
      saveHidden(hidden);
      apply(hidden);
    });
    box.querySelector("[data-xai-all]").addEventListener("click", function () {
      var here = methods.map(function (i) { return i.getAttribute("data-method"); });
      var hidden = loadHidden().filter(function (m) { return here.indexOf(m) < 0; });
      saveHidden(hidden);
      apply(hidden);
    });
    box.hidden = false;
    apply(loadHidden());
  }

  function setup() {
    Array.prototype.forEach.call(document.querySelectorAll("article table"), sortable);
    Array.prototype.forEach.call(document.querySelectorAll(".xai-neurons"), filterable);
    Array.prototype.forEach.call(document.querySelectorAll(".xai-image-index"), rowFilter);
    Array.prototype.forEach.call(document.querySelectorAll(".xai-picker"), picker);
  }

  if (typeof window.document$ !== "undefined" && window.document$.subscribe) {
    window.document$.subscribe(setup);  // Material's page-load signal (also after instant navigation)
  } else if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", setup);
  } else {
    setup();
  }
})();
