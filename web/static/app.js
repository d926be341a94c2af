// Touchpoint's only script: small conveniences. Every form works without it.
(function () {
  "use strict";

  // A new action typed in place becomes a checked checkbox at once.
  document.querySelectorAll("[data-add-action]").forEach(function (btn) {
    btn.hidden = false;
    btn.addEventListener("click", function () {
      var input = document.getElementById(btn.getAttribute("data-add-action"));
      var box = document.getElementById("action-checks");
      if (!input || !box) return;
      input.value.split(",").forEach(function (raw) {
        var name = raw.trim();
        if (!name) return;
        var exists = Array.prototype.some.call(box.querySelectorAll("input[name=actions]"), function (cb) {
          if (cb.value.toLowerCase() === name.toLowerCase()) { cb.checked = true; return true; }
          return false;
        });
        if (exists) return;
        var label = document.createElement("label");
        var cb = document.createElement("input");
        cb.type = "checkbox"; cb.name = "actions"; cb.value = name; cb.checked = true;
        label.appendChild(cb);
        label.appendChild(document.createTextNode(" " + name));
        box.appendChild(label);
      });
      input.value = "";
      input.focus();
    });
  });

  // Full address: browsers without :has() get the same effect from a class.
  document.querySelectorAll("select[name=type]").forEach(function (sel) {
    var form = sel.form;
    var sync = function () { form.classList.toggle("is-visit", sel.value === "Visit"); };
    sel.addEventListener("change", sync);
    sync();
  });

  // Select all rows of a bulk table.
  document.querySelectorAll("[data-select-all]").forEach(function (all) {
    all.hidden = false;
    all.addEventListener("change", function () {
      document.querySelectorAll("input[name=" + all.getAttribute("data-select-all") + "]").forEach(function (cb) {
        cb.checked = all.checked;
      });
    });
  });

  // Contact picker: results while typing (the Search button works without this).
  document.querySelectorAll("[data-picker-search]").forEach(function (input) {
    var list = input.closest("fieldset").querySelector("[data-picker-results]");
    if (!list) return;
    var timer = null;
    input.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () {
        var q = input.value.trim();
        if (q.length < 2) return;
        fetch("/api/v1/contacts?limit=10&q=" + encodeURIComponent(q), { credentials: "same-origin" })
          .then(function (r) { return r.ok ? r.json() : { items: [] }; })
          .then(function (data) {
            var picked = {};
            input.closest("fieldset").querySelectorAll("input[name=contact_ids]:checked").forEach(function (cb) { picked[cb.value] = true; });
            list.textContent = "";
            (data.items || []).forEach(function (c) {
              if (picked[String(c.id)]) return;
              var li = document.createElement("li");
              var label = document.createElement("label");
              var cb = document.createElement("input");
              cb.type = "checkbox"; cb.name = "contact_ids"; cb.value = String(c.id);
              label.appendChild(cb);
              label.appendChild(document.createTextNode(" " + c.name));
              if (c.emails && c.emails.length) {
                var span = document.createElement("span");
                span.className = "muted";
                span.textContent = " " + c.emails[0];
                label.appendChild(span);
              }
              li.appendChild(label);
              list.appendChild(li);
            });
          })
          .catch(function () {});
      }, 250);
    });
    input.addEventListener("keydown", function (e) {
      if (e.key === "Enter") { e.preventDefault(); }
    });
  });

  // In a form with a contact picker the first submit button is the
  // picker's Search; Enter in another field should save instead.
  document.querySelectorAll("form").forEach(function (form) {
    var search = form.querySelector("[data-picker-search]");
    var primary = form.querySelector("button.btn-primary[type=submit]");
    if (!search || !primary) return;
    form.addEventListener("keydown", function (e) {
      if (e.key !== "Enter" || e.target === search || e.target.tagName !== "INPUT") return;
      if (e.target.type === "checkbox" || e.target.type === "radio") return;
      e.preventDefault();
      primary.click();
    });
  });

  // Organisation suggestions for the contact form.
  document.querySelectorAll("[data-org-suggest]").forEach(function (input) {
    var dl = document.getElementById(input.getAttribute("list"));
    var timer = null;
    input.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () {
        var q = input.value.trim();
        if (q.length < 2 || !dl) return;
        fetch("/api/v1/contacts?limit=20&q=" + encodeURIComponent(q), { credentials: "same-origin" })
          .then(function (r) { return r.ok ? r.json() : { items: [] }; })
          .then(function (data) {
            dl.textContent = "";
            (data.items || []).filter(function (c) { return c.kind === "organization"; }).forEach(function (c) {
              var o = document.createElement("option");
              o.value = c.name;
              dl.appendChild(o);
            });
          })
          .catch(function () {});
      }, 250);
    });
  });
})();
