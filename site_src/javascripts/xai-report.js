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
 */
(function () {
  "use strict";

  var NUMBER = /^\s*([+\-\u2212]?(?:\d+(?:\.\d*)?|\.\d+)(?:e[+\-]?\d+)?)/i;
  var MISSING = /^\s*(|n\/a|\u2014|-)\s*$/i;

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

  function setup() {
    Array.prototype.forEach.call(document.querySelectorAll("article table"), sortable);
    Array.prototype.forEach.call(document.querySelectorAll(".xai-neurons"), filterable);
    Array.prototype.forEach.call(document.querySelectorAll(".xai-image-index"), rowFilter);
  }

  if (typeof window.document$ !== "undefined" && window.document$.subscribe) {
    window.document$.subscribe(setup);  // Material's page-load signal (also after instant navigation)
  } else if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", setup);
  } else {
    setup();
  }
})();
