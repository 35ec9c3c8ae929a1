// The HTML report's tables: click a column's header to sort its rows (again to reverse), type in the box above a
// table to keep only the rows holding every word typed; a table wider than the page shows the columns that fit (the
// key ones come first) and lists the rest, to show at will. On a narrow screen the contents start folded. The page
// reads the same without it: every column is there.
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

  function setColumn(table, column, hide) {
    Array.prototype.forEach.call(table.rows, function (row) {
      if (row.cells[column]) { row.cells[column].hidden = hide; }
    });
  }

  // Hide columns from the right, never the first two, until the table fits its box; list them in a chooser.
  function fitColumns(table) {
    var headers = table.tHead.rows[0].cells;
    var chooser = table.previousElementSibling && table.previousElementSibling.classList.contains("columns")
      ? table.previousElementSibling : null;
    var chosen = {};
    if (chooser) {
      Array.prototype.forEach.call(chooser.querySelectorAll("input:checked"), function (box) {
        chosen[box.value] = true;
      });
      chooser.remove();
    }
    for (var c = 0; c < headers.length; c++) { setColumn(table, c, false); }
    var hidden = [];
    for (var last = headers.length - 1; last >= 2 && table.scrollWidth > table.clientWidth + 1; last--) {
      if (chosen[last]) { continue; }
      setColumn(table, last, true);
      hidden.unshift(last);
    }
    if (!hidden.length) { return; }
    chooser = document.createElement("details");
    chooser.className = "columns";
    var summary = document.createElement("summary");
    summary.textContent = hidden.length + " more column" + (hidden.length > 1 ? "s" : "") + " (too wide to show at once)";
    chooser.appendChild(summary);
    hidden.forEach(function (column) {
      var label = document.createElement("label");
      var box = document.createElement("input");
      box.type = "checkbox";
      box.value = column;
      box.addEventListener("change", function () { setColumn(table, column, !box.checked); });
      label.appendChild(box);
      label.appendChild(document.createTextNode(" " + headers[column].textContent));
      chooser.appendChild(label);
    });
    table.parentNode.insertBefore(chooser, table);
  }

  var wide = [];
  Array.prototype.forEach.call(document.querySelectorAll("main table"), function (table) {
    var headers = table.tHead ? Array.prototype.slice.call(table.tHead.rows[0].cells) : [];
    var named = headers.some(function (th) { return th.textContent.trim() !== ""; });
    if (!named || !table.tBodies.length) { return; }  // the facts tables have no header to sort by
    table.classList.add("sortable");
    makeSortable(table);
    if (table.tBodies[0].rows.length > 1) { makeFilterable(table); }
    wide.push(table);
  });
  wide.forEach(fitColumns);
  var pending = null;
  window.addEventListener("resize", function () {
    clearTimeout(pending);
    pending = setTimeout(function () { wide.forEach(fitColumns); }, 150);
  });
  var contents = document.querySelector("nav details");
  if (contents && window.matchMedia("(max-width: 1000px)").matches) { contents.open = false; }
}());
