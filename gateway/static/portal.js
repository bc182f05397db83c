// The patron portal's enhancements. Every page works without them, except uploading.
"use strict";

document.documentElement.classList.add("js");

const csrfToken = () => document.querySelector('meta[name="csrf-token"]').content;

// Filters that apply as soon as they change.
document.querySelectorAll("select[data-autosubmit]").forEach((select) => {
  select.addEventListener("change", () => select.form.submit());
});

// "Add another" for repeatable fields: copy the last row, emptied, with fresh ids.
let rowCounter = 1000;
document.querySelectorAll("button.add-row").forEach((button) => {
  const rows = document.getElementById(button.dataset.for).querySelector(".rows");
  button.addEventListener("click", () => {
    const max = Number(rows.dataset.max || 0);
    if (max && rows.children.length >= max) return;
    const row = rows.lastElementChild.cloneNode(true);
    rowCounter += 1;
    row.querySelectorAll("input, textarea, select").forEach((input) => {
      input.value = "";
      input.removeAttribute("aria-invalid");
      const id = `${input.id}-${rowCounter}`;
      const label = row.querySelector(`label[for="${input.id}"]`);
      if (label) label.htmlFor = id;
      input.id = id;
    });
    rows.appendChild(row);
    row.querySelector("input, textarea, select").focus();
  });
});

// Uploads: checked in the browser first, then streamed with a progress bar per file.
const dropzone = document.getElementById("dropzone");
if (dropzone) {
  const list = document.getElementById("file-list");
  const input = document.getElementById("file-input");
  const maxSize = Number(dropzone.dataset.maxSize);
  const maxFiles = Number(dropzone.dataset.maxFiles);
  const extensions = dropzone.dataset.extensions ? dropzone.dataset.extensions.split(",") : [];
  const message = (key, name) => dropzone.dataset[key].replace("{name}", name);
  const formatSize = (bytes) => {
    const units = ["B", "KB", "MB", "GB"];
    let value = bytes;
    let unit = 0;
    while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit += 1; }
    return `${unit ? value.toFixed(1) : value} ${units[unit]}`;
  };

  const row = (name) => {
    const item = document.createElement("li");
    item.className = "file uploading";
    const label = document.createElement("span");
    label.className = "name";
    label.textContent = name;
    const progress = document.createElement("progress");
    progress.max = 100;
    progress.value = 0;
    progress.setAttribute("aria-label", name);
    const status = document.createElement("span");
    status.className = "meta";
    item.append(label, progress, status);
    list.appendChild(item);
    return { item, progress, status };
  };

  const refuse = (text) => {
    const { item, progress, status } = row("");
    item.className = "file failed";
    progress.remove();
    status.textContent = text;
    status.setAttribute("role", "alert");
  };

  const addRemoveButton = (item, deleteUrl, name) => {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "link remove";
    button.dataset.deleteUrl = deleteUrl;
    button.textContent = dropzone.dataset.msgRemove;
    button.setAttribute("aria-label", `${dropzone.dataset.msgRemove} ${name}`);
    item.appendChild(button);
  };

  // Validation's pre-check of the upload: its problems, already in the page's language.
  const showPrecheck = (item, precheck) => {
    if (!precheck || precheck.passed) return;
    item.classList.add("warned");
    const problems = document.createElement("ul");
    problems.className = "problems";
    problems.setAttribute("role", "alert");
    precheck.checks.filter((check) => !check.passed).forEach((check) => {
      const line = document.createElement("li");
      line.textContent = check.message;
      problems.appendChild(line);
    });
    item.appendChild(problems);
  };

  const upload = (file) => {
    const extension = file.name.includes(".") ? file.name.split(".").pop().toLowerCase() : "";
    if (list.querySelectorAll(".file.done, .file.uploading").length >= maxFiles) {
      refuse(message("msgTooMany", file.name));
      return;
    }
    if (file.size > maxSize) { refuse(message("msgTooLarge", file.name)); return; }
    if (extensions.length && !extensions.includes(extension)) {
      refuse(message("msgType", file.name));
      return;
    }
    const { item, progress, status } = row(file.name);
    const request = new XMLHttpRequest();
    const url = `${dropzone.dataset.uploadUrl}?filename=${encodeURIComponent(file.name)}`;
    request.open("POST", url);
    request.setRequestHeader("X-CSRFToken", csrfToken());
    request.setRequestHeader("Content-Type", "application/octet-stream");
    request.setRequestHeader("Accept", "application/json");
    request.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) progress.value = Math.round((event.loaded / event.total) * 100);
    });
    request.addEventListener("load", () => {
      let body = {};
      try { body = JSON.parse(request.responseText); } catch (error) { body = {}; }
      if (request.status === 201) {
        item.className = "file done";
        item.dataset.fileId = body.id;
        progress.value = 100;
        status.textContent = `${formatSize(body.size)} · ${body.media_type} · ${dropzone.dataset.msgDone}`;
        addRemoveButton(item, `${dropzone.dataset.uploadUrl}/${body.id}`, body.filename);
        showPrecheck(item, body.precheck);
      } else {
        item.className = "file failed";
        status.textContent = `${dropzone.dataset.msgFailed}: ${(body.error && body.error.message) || request.statusText}`;
        status.setAttribute("role", "alert");
      }
    });
    request.addEventListener("error", () => {
      item.className = "file failed";
      status.textContent = dropzone.dataset.msgFailed;
    });
    request.send(file);
  };

  input.addEventListener("change", () => {
    Array.from(input.files).forEach(upload);
    input.value = "";
  });
  ["dragenter", "dragover"].forEach((type) => dropzone.addEventListener(type, (event) => {
    event.preventDefault();
    dropzone.classList.add("over");
  }));
  ["dragleave", "drop"].forEach((type) => dropzone.addEventListener(type, () => {
    dropzone.classList.remove("over");
  }));
  dropzone.addEventListener("drop", (event) => {
    event.preventDefault();
    Array.from(event.dataTransfer.files).forEach(upload);
  });

  // Removing a file without leaving the page; the button's formaction is the fallback.
  list.addEventListener("click", (event) => {
    const button = event.target.closest("button.remove");
    if (!button) return;
    event.preventDefault();
    fetch(button.dataset.deleteUrl, {
      method: "DELETE", headers: { "X-CSRFToken": csrfToken(), Accept: "application/json" },
    }).then((response) => {
      if (response.ok) button.closest("li").remove();
    });
  });
}
