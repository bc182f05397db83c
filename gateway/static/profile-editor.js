/* The deposit-profile editor: add, remove and reorder metadata-form rows, and show the
   inputs that apply. Without this script the page still works: the server renders the
   rows plus one blank row, and every input is shown. */
(function () {
  "use strict";

  var VOCABULARY_TYPES = ["choice", "licence"];
  var ROW_NAME = /^fields-(?:\d+|__index__)-/;
  var LINKED = ["name", "id", "for", "aria-describedby"];

  var rows = document.getElementById("field-rows");
  var template = document.getElementById("field-row-template");
  var addButton = document.getElementById("add-field");
  var status = document.getElementById("editor-status");
  if (!rows || !template || !addButton) {
    return;
  }
  document.documentElement.classList.add("js");

  function text(name, number) {
    return (rows.dataset[name] || "").replace("{n}", String(number));
  }

  function announce(message) {
    if (!status) {
      return;
    }
    status.textContent = "";
    window.setTimeout(function () { status.textContent = message; }, 50);
  }

  function allRows() {
    return Array.prototype.slice.call(rows.querySelectorAll(":scope > [data-row]"));
  }

  function isBlank(row) {
    var key = row.querySelector("input[name$='-key']");
    var label = row.querySelector("input[name$='-label']");
    return !(key && key.value.trim()) && !(label && label.value.trim());
  }

  /* Give every row's inputs the index of its position, so the server keeps this order. */
  function renumber() {
    var list = allRows();
    list.forEach(function (row, index) {
      var prefix = "fields-" + index + "-";
      row.querySelectorAll("*").forEach(function (element) {
        LINKED.forEach(function (attribute) {
          var value = element.getAttribute(attribute);
          if (value && value.indexOf("fields-") !== -1) {
            element.setAttribute(attribute, value.split(" ").map(function (part) {
              return part.replace(ROW_NAME, prefix);
            }).join(" "));
          }
        });
      });
      row.querySelectorAll("[data-row-name]").forEach(function (element) {
        element.textContent = text("namePattern", index + 1);
      });
      var up = row.querySelector("[data-action='up']");
      var down = row.querySelector("[data-action='down']");
      if (up) { up.disabled = index === 0; }
      if (down) { down.disabled = index === list.length - 1; }
    });
  }

  function showVocabulary(row) {
    var type = row.querySelector("select[name$='-type']");
    var vocabulary = row.querySelector(".vocabulary");
    if (type && vocabulary) {
      vocabulary.hidden = VOCABULARY_TYPES.indexOf(type.value) === -1;
    }
  }

  function enhance(row) {
    var actions = row.querySelector("[data-row-actions]");
    if (actions) {
      actions.hidden = false;
    }
    showVocabulary(row);
  }

  function addRow() {
    var fragment = template.content.cloneNode(true);
    var row = fragment.querySelector("[data-row]");
    rows.appendChild(fragment);
    enhance(row);
    renumber();
    allRows().forEach(function (other) { other.classList.remove("just-added"); });
    row.classList.add("just-added");
    var position = allRows().indexOf(row) + 1;
    var key = row.querySelector("input[name$='-key']");
    if (key) {
      key.focus();
    }
    announce(text("msgAdded", position));
  }

  function removeRow(row) {
    var list = allRows();
    var index = list.indexOf(row);
    var next = list[index + 1] || list[index - 1];
    row.remove();
    renumber();
    var target = next ? next.querySelector("input, select, textarea") : addButton;
    (target || addButton).focus();
    announce(text("msgRemoved", 0));
  }

  function moveRow(row, direction, button) {
    var sibling = direction === "up" ? row.previousElementSibling : row.nextElementSibling;
    if (!sibling || !sibling.matches("[data-row]")) {
      return;
    }
    if (direction === "up") {
      rows.insertBefore(row, sibling);
    } else {
      rows.insertBefore(sibling, row);
    }
    renumber();
    if (button.disabled) {
      var other = row.querySelector(direction === "up" ? "[data-action='down']" : "[data-action='up']");
      (other && !other.disabled ? other : row.querySelector("input")).focus();
    } else {
      button.focus();
    }
    announce(text("msgMoved", allRows().indexOf(row) + 1));
  }

  rows.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-action]");
    if (!button || !rows.contains(button)) {
      return;
    }
    var row = button.closest("[data-row]");
    var action = button.getAttribute("data-action");
    if (action === "remove") {
      removeRow(row);
    } else {
      moveRow(row, action, button);
    }
  });

  rows.addEventListener("change", function (event) {
    if (event.target.matches("select[name$='-type']")) {
      showVocabulary(event.target.closest("[data-row]"));
    }
  });

  addButton.addEventListener("click", addRow);
  addButton.hidden = false;

  /* With the button at hand the spare blank row at the end is not needed. */
  var list = allRows();
  if (list.length > 1 && isBlank(list[list.length - 1]) &&
      !list[list.length - 1].classList.contains("has-error")) {
    list[list.length - 1].remove();
  }
  allRows().forEach(enhance);
  renumber();

  /* Inputs that only apply to one choice: shown when they do. */
  function follow(controlSelector, wrapperSelector, applies) {
    var controls = document.querySelectorAll(controlSelector);
    var wrapper = document.querySelector(wrapperSelector);
    if (!controls.length || !wrapper) {
      return;
    }
    function update() {
      var value = "";
      controls.forEach(function (control) {
        if (control.type !== "radio" || control.checked) {
          value = control.value;
        }
      });
      wrapper.hidden = !applies(value) && !wrapper.classList.contains("has-error");
    }
    controls.forEach(function (control) { control.addEventListener("change", update); });
    update();
  }
  follow("#access", ".control.embargo", function (value) { return value === "embargo"; });
  follow("input[name='approval_mode']", ".control.approvers",
         function (value) { return value === "manual"; });

  /* The error summary: read first, and its links move focus to the input itself. */
  var summary = document.getElementById("error-summary");
  if (summary) {
    summary.focus();
    summary.addEventListener("click", function (event) {
      var link = event.target.closest("a[href^='#']");
      if (!link) {
        return;
      }
      var target = document.getElementById(link.getAttribute("href").slice(1));
      if (!target) {
        return;
      }
      event.preventDefault();
      var wrapper = target.closest(".control, .check, .field-row, section");
      (wrapper || target).scrollIntoView({ block: "start" });
      target.focus({ preventScroll: true });
    });
  }
}());
