/* The letter-template editor's live preview: sends the unsaved parts to the gateway, which
   has letters render them against a real deposit (by ID) or a sample one. The HTML part is
   shown in a sandboxed frame, so nothing in it can run. */
(function () {
  "use strict";

  var form = document.getElementById("template-form");
  var button = document.getElementById("preview-button");
  if (!form || !button) {
    return;
  }
  var depositInput = document.getElementById("preview-deposit");
  var status = document.getElementById("preview-status");
  var problem = document.getElementById("preview-error");
  var letter = document.getElementById("preview-letter");
  var token = document.querySelector("meta[name=csrf-token]").content;
  var timer = null;
  var latest = 0;

  function show(result) {
    document.getElementById("preview-subject").textContent = result.subject;
    document.getElementById("preview-text").textContent = result.text;
    document.getElementById("preview-html").srcdoc = result.html || "";
    letter.hidden = false;
    problem.hidden = true;
  }

  function fail(message) {
    problem.textContent = message;
    problem.hidden = false;
  }

  function describe(error) {
    var fields = (error && error.fields) || {};
    var parts = Object.keys(fields).map(function (name) {
      return name + ": " + [].concat(fields[name]).join(" ");
    });
    return parts.length ? parts.join(" · ") : (error && error.message) || "";
  }

  function preview() {
    var ticket = ++latest;
    status.textContent = button.dataset.busy || "…";
    fetch(form.dataset.previewUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: {"Content-Type": "application/json", "Accept": "application/json",
                "X-CSRFToken": token},
      body: JSON.stringify({
        subject: form.elements.subject.value,
        html: form.elements.html.value,
        text: form.elements.text.value,
        deposit_id: depositInput.value.trim()
      })
    }).then(function (response) {
      return response.json().then(function (body) { return {ok: response.ok, body: body}; });
    }).then(function (answer) {
      if (ticket !== latest) {
        return;  // a newer preview is on its way
      }
      status.textContent = "";
      if (answer.ok) {
        show(answer.body);
      } else {
        fail(describe(answer.body.error));
      }
    }).catch(function (err) {
      if (ticket === latest) {
        status.textContent = "";
        fail(String(err));
      }
    });
  }

  function soon() {
    window.clearTimeout(timer);
    timer = window.setTimeout(preview, 400);
  }

  button.addEventListener("click", preview);
  form.addEventListener("input", soon);
  depositInput.addEventListener("change", preview);
  preview();
}());
