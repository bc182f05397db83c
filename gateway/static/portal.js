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

// Uploads: checked in the browser first, then sent in resumable chunks with a progress bar per file.
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

  // Resumable upload (tus 1.0) in chunks: a dropped connection costs at most one chunk.
  // After a failure the widget asks the server (HEAD) where the upload stands and goes on.
  const tusUrl = dropzone.dataset.tusUrl;
  const chunkSize = Number(dropzone.dataset.chunkSize || 8 * 1024 * 1024);
  const tusHeaders = () => ({ "Tus-Resumable": "1.0.0", "X-CSRFToken": csrfToken(), Accept: "application/json" });
  const base64 = (text) => btoa(String.fromCharCode(...new TextEncoder().encode(text)));
  const sleep = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });
  const formatTime = (seconds) => {
    if (!Number.isFinite(seconds)) return "";
    if (seconds < 60) return `${Math.ceil(seconds)} s`;
    return `${Math.floor(seconds / 60)} min ${Math.ceil(seconds % 60)} s`;
  };

  class UploadRefused extends Error {
    constructor(body, status) {
      const error = (body && body.error) || {};
      const fields = Object.entries(error.fields || {}).map(([field, problems]) => `${field}: ${[].concat(problems).join("; ")}`);
      super([error.message || `HTTP ${status}`, ...fields].join(" "));
    }
  }

  const answer = async (response) => {
    if (response.ok) return response;
    let body = {};
    try { body = await response.json(); } catch (error) { body = {}; }
    if (response.status >= 400 && response.status < 500) throw new UploadRefused(body, response.status);
    throw new Error(`HTTP ${response.status}`); // the server's trouble: retry
  };

  // One PATCH by XMLHttpRequest, for upload progress events; resolves with the new offset.
  const sendChunk = (url, file, offset, onProgress) => new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open("PATCH", url);
    Object.entries(tusHeaders()).forEach(([name, value]) => request.setRequestHeader(name, value));
    request.setRequestHeader("Upload-Offset", String(offset));
    request.setRequestHeader("Content-Type", "application/offset+octet-stream");
    request.upload.addEventListener("progress", (event) => onProgress(offset + event.loaded));
    request.addEventListener("load", () => {
      if (request.status === 204) {
        resolve(Number(request.getResponseHeader("Upload-Offset")));
        return;
      }
      let body = {};
      try { body = JSON.parse(request.responseText); } catch (error) { body = {}; }
      if (request.status >= 400 && request.status < 500 && request.status !== 409) {
        reject(new UploadRefused(body, request.status));
      } else {
        reject(new Error(`HTTP ${request.status}`));
      }
    });
    ["error", "abort", "timeout"].forEach((type) => request.addEventListener(type, () => reject(new Error(type))));
    request.send(file.slice(offset, Math.min(offset + chunkSize, file.size)));
  });

  const currentOffset = async (url) => {
    const response = await answer(await fetch(url, { method: "HEAD", headers: tusHeaders() }));
    return Number(response.headers.get("Upload-Offset"));
  };

  const precheckProblems = (precheck) => (precheck && !precheck.passed
    ? precheck.checks.filter((check) => !check.passed).map((check) => check.message) : []);

  const upload = async (file) => {
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
    const started = performance.now();
    let sentAtStart = 0;
    const showProgress = (done) => {
      progress.value = file.size ? Math.floor((done / file.size) * 100) : 100;
      const seconds = (performance.now() - started) / 1000;
      const rate = seconds > 0 ? (done - sentAtStart) / seconds : 0;
      const left = rate > 0 ? (file.size - done) / rate : Infinity;
      status.textContent = `${progress.value}% · ${(rate / 1e6).toFixed(1)} MB/s · ${formatTime(left)} ${dropzone.dataset.msgLeft}`;
    };
    const fail = (text) => {
      item.className = "file failed";
      progress.remove();
      status.textContent = `${dropzone.dataset.msgFailed}: ${text}`;
      status.setAttribute("role", "alert");
    };
    try {
      const created = await answer(await fetch(tusUrl, {
        method: "POST",
        headers: { ...tusHeaders(), "Upload-Length": String(file.size), "Upload-Metadata": `filename ${base64(file.name)}` },
      }));
      const url = created.headers.get("Location");
      item.dataset.uploadUrl = url;
      let offset = 0;
      let failures = 0;
      while (offset < file.size) {
        try {
          offset = await sendChunk(url, file, offset, showProgress);
          failures = 0;
        } catch (error) {
          if (error instanceof UploadRefused) throw error;
          failures += 1;
          if (failures > 30) throw error;
          item.classList.add("retrying");
          status.textContent = dropzone.dataset.msgRetrying;
          await sleep(Math.min(1000 * 2 ** (failures - 1), 10000));
          try {
            offset = await currentOffset(url);
            sentAtStart = offset;
            item.classList.remove("retrying");
          } catch (headError) {
            if (headError instanceof UploadRefused) throw headError;
          }
        }
      }
      const done = await (await answer(await fetch(url, { headers: { Accept: "application/json" } }))).json();
      const body = done.file;
      item.className = "file done";
      item.dataset.fileId = body.id;
      progress.value = 100;
      status.textContent = `${formatSize(body.size)} · ${body.media_type} · ${dropzone.dataset.msgDone}`;
      const problems = precheckProblems(done.precheck);
      if (problems.length) {
        const note = document.createElement("p");
        note.className = "problems";
        note.setAttribute("role", "alert");
        note.textContent = `${dropzone.dataset.msgPrecheck} ${problems.join(" ")}`;
        item.appendChild(note);
      }
      addRemoveButton(item, `${dropzone.dataset.uploadUrl}/${body.id}`, body.filename);
    } catch (error) {
      fail(error.message);
    }
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
