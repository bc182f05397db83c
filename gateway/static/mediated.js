// The patron picker on "Deposit for a patron": an ARIA combobox that asks the staff API
// as one types. Without JavaScript the "Find" button runs the same search as a page.
"use strict";

const picker = document.querySelector(".patron-picker");
if (picker) {
  const input = document.getElementById("patron-search");
  const list = document.getElementById("patron-options");
  const status = document.getElementById("patron-status");
  const hidden = document.getElementById("patron-id");
  const chosen = document.getElementById("patron-chosen");
  const results = picker.querySelector(".results");
  let people = [];
  let active = -1;
  let timer = null;
  let asked = 0;

  const say = (text) => { status.textContent = text; };

  const close = () => {
    list.hidden = true;
    input.setAttribute("aria-expanded", "false");
    input.removeAttribute("aria-activedescendant");
    active = -1;
  };

  const highlight = (index) => {
    const options = list.querySelectorAll("[role=option]");
    options.forEach((option, i) => option.setAttribute("aria-selected", String(i === index)));
    active = index;
    if (index >= 0) {
      input.setAttribute("aria-activedescendant", options[index].id);
      options[index].scrollIntoView({ block: "nearest" });
    } else {
      input.removeAttribute("aria-activedescendant");
    }
  };

  const choose = (person) => {
    hidden.value = person.id;
    input.value = person.name;
    chosen.querySelector("[data-part=name]").textContent = person.name;
    chosen.querySelector("[data-part=email]").textContent = person.email;
    chosen.querySelector("[data-part=username]").textContent = person.username;
    chosen.hidden = false;
    if (results) results.hidden = true;
    input.removeAttribute("aria-invalid");
    close();
    say(picker.dataset.msgChosen.replace("{name}", person.name));
  };

  const show = (found) => {
    people = found;
    list.replaceChildren();
    found.forEach((person, index) => {
      const option = document.createElement("li");
      option.id = `patron-option-${index}`;
      option.setAttribute("role", "option");
      option.setAttribute("aria-selected", "false");
      const name = document.createElement("span");
      name.className = "person-name";
      name.textContent = person.name;
      const detail = document.createElement("span");
      detail.className = "detail";
      detail.textContent = `${person.email} · ${person.username}`;
      option.append(name, detail);
      // mousedown, not click: it comes before the input loses focus
      option.addEventListener("mousedown", (event) => { event.preventDefault(); choose(person); });
      list.appendChild(option);
    });
    if (!found.length) {
      say(picker.dataset.msgNone);
      close();
      return;
    }
    list.hidden = false;
    input.setAttribute("aria-expanded", "true");
    highlight(-1);
    say(found.length === 1 ? picker.dataset.msgOne
      : picker.dataset.msgFound.replace("{count}", found.length));
  };

  const search = () => {
    const words = input.value.trim();
    if (words.length < 2) { close(); return; }
    asked += 1;
    const ticket = asked;
    const url = `${picker.dataset.searchUrl}?limit=8&q=${encodeURIComponent(words)}`;
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then((response) => (response.ok ? response.json() : { items: [] }))
      .then((body) => { if (ticket === asked) show(body.items); })
      .catch(() => close());
  };

  input.addEventListener("input", () => {
    hidden.value = "";
    chosen.hidden = true;
    clearTimeout(timer);
    timer = setTimeout(search, 200);
  });
  input.addEventListener("keydown", (event) => {
    const open = !list.hidden;
    if (event.key === "ArrowDown" && open) {
      event.preventDefault();
      highlight(Math.min(active + 1, people.length - 1));
    } else if (event.key === "ArrowUp" && open) {
      event.preventDefault();
      highlight(Math.max(active - 1, 0));
    } else if (event.key === "Enter" && open) {
      // Enter picks the highlighted person (or the only one) instead of sending the form
      event.preventDefault();
      const index = active >= 0 ? active : (people.length === 1 ? 0 : -1);
      if (index >= 0) choose(people[index]);
    } else if (event.key === "Escape" && open) {
      event.preventDefault();
      close();
    }
  });
  input.addEventListener("blur", () => setTimeout(close, 100));
}
