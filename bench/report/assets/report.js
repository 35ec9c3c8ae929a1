// The HTML report's tables: click a column's header to sort its rows (again to reverse), type in the box above a
// table to keep only the rows holding every word typed. The page reads the same without it.
(function () {
  "use strict";

  // A cell's number, or null: the first number in its text ("98.11 ± 0.20" → 98.11, "×1.25" → 1.25,
  // "-0.33, 1 pair" → -0.33, "1,400" → 1400, "16/16" → 16); a dash means no value.
  function numberIn(text) {
    var t = text.replace(/\u2212/g, "-").replace(/(\d),(?=\d{3}\b)/g, "$1").trim();
    var m = t.match(/^[^\w+\-.]{0,3}([+-]?(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?)/i);
    return m ? parseFloat(m[1]) : null;
  }

  function isMissing(text) {
    var t = text.trim();
    return t === "" || t === "\u2013" || t === "-" || t === "baseline";
  }

  function cellText(row, column) {
    var cell = row.cells[column];
    return cell ? cell.textContent : "";
  }

  // Numbers when every cell that has a value starts with one, else text; cells without a value sort last.
  function sortBy(table, column, descending) {
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var numeric = rows.every(function (row) {
      var text = cellText(row, column);
      return isMissing(text) || numberIn(text) !== null;
    });
    var keyed = rows.map(function (row, index) {
      var text = cellText(row, column);
      return {row: row, index: index, missing: isMissing(text),
              key: numeric ? numberIn(text) : text.trim().toLowerCase()};
    });
    keyed.sort(function (a, b) {
      if (a.missing !== b.missing) { return a.missing ? 1 : -1; }
      var order = 0;
      if (!a.missing) {
        order = numeric ? a.key - b.key : a.key.localeCompare(b.key);
      }
      if (descending) { order = -order; }
      return order || a.index - b.index;
    });
    keyed.forEach(function (item) { body.appendChild(item.row); });
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, i) {
      th.setAttribute("aria-sort", i === column ? (descending ? "descending" : "ascending") : "none");
    });
  }

  function makeSortable(table) {
    var headers = table.tHead ? table.tHead.rows[0].cells : [];
    Array.prototype.forEach.call(headers, function (th, column) {
      th.setAttribute("aria-sort", "none");
      th.setAttribute("tabindex", "0");
      th.title = "sort by " + th.textContent;
      function sort() { sortBy(table, column, th.getAttribute("aria-sort") === "ascending"); }
      th.addEventListener("click", sort);
      th.addEventListener("keydown", function (event) {
        if (event.key === "Enter" || event.key === " ") { event.preventDefault(); sort(); }
      });
    });
  }

  function makeFilterable(table) {
    var box = document.createElement("input");
    box.type = "search";
    box.className = "filter";
    box.placeholder = "filter rows (every word must appear)";
    box.setAttribute("aria-label", "filter the rows of the table below");
    var count = document.createElement("span");
    count.className = "filter-count";
    table.parentNode.insertBefore(box, table);
    table.parentNode.insertBefore(count, table);
    box.addEventListener("input", function () {
      var words = box.value.toLowerCase().split(/\s+/).filter(Boolean);
      var shown = 0;
      Array.prototype.forEach.call(table.tBodies[0].rows, function (row) {
        var text = row.textContent.toLowerCase();
        var keep = words.every(function (word) { return text.indexOf(word) >= 0; });
        row.hidden = !keep;
        shown += keep ? 1 : 0;
      });
      count.textContent = words.length ? shown + " of " + table.tBodies[0].rows.length + " rows" : "";
    });
  }

  Array.prototype.forEach.call(document.querySelectorAll("main table"), function (table) {
    var headers = table.tHead ? Array.prototype.slice.call(table.tHead.rows[0].cells) : [];
    var named = headers.some(function (th) { return th.textContent.trim() !== ""; });
    if (!named || !table.tBodies.length) { return; }  // the facts tables have no header to sort by
    table.classList.add("sortable");
    makeSortable(table);
    if (table.tBodies[0].rows.length > 1) { makeFilterable(table); }
  });
}());
