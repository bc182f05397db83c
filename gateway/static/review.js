// Approvers' pages: keyboard moves in the queue, select-all, and the reason list that
// matches the chosen decision. Everything works without it.
(function () {
  "use strict";

  // decision → show only that kind's reason list
  document.querySelectorAll("form").forEach(function (form) {
    var radios = form.querySelectorAll("[data-decision]");
    if (!radios.length) return;
    function sync() {
      var chosen = form.querySelector("[data-decision]:checked");
      form.querySelectorAll("[data-reason-for]").forEach(function (box) {
        box.hidden = !chosen || chosen.value !== box.getAttribute("data-reason-for");
      });
    }
    radios.forEach(function (radio) { radio.addEventListener("change", sync); });
    sync();
  });

  var selectAll = document.querySelector("[data-select-all]");
  if (selectAll) {
    selectAll.addEventListener("change", function () {
      document.querySelectorAll("input[name=deposit_id]").forEach(function (box) {
        box.checked = selectAll.checked;
      });
    });
  }

  var rows = Array.prototype.slice.call(document.querySelectorAll("[data-keyboard-rows] [data-row]"));
  if (!rows.length) return;
  var current = -1;
  function focusRow(index) {
    if (index < 0 || index >= rows.length) return;
    if (current >= 0) rows[current].classList.remove("active");
    current = index;
    rows[current].classList.add("active");
    rows[current].querySelector("[data-open]").focus();
  }
  document.addEventListener("keydown", function (event) {
    var target = event.target;
    if (event.altKey || event.ctrlKey || event.metaKey) return;
    if (/^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName) && target.type !== "checkbox") return;
    if (event.key === "j") { focusRow(current + 1); event.preventDefault(); }
    else if (event.key === "k") { focusRow(Math.max(current - 1, 0)); event.preventDefault(); }
    else if (event.key === "x" && current >= 0) {
      // one's own deposit has no box: it cannot be decided on
      var box = rows[current].querySelector("input[name=deposit_id]");
      if (box) { box.checked = !box.checked; event.preventDefault(); }
    }
  });
})();
