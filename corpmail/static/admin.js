/* Admin pages: delete confirmations, default ports, action ordering, live scan progress. */
(function () {
  "use strict";

  // Forms with data-confirm ask first (a Bootstrap modal; the browser dialog as a fallback).
  function confirmModal(message, onYes) {
    if (!window.bootstrap) { if (window.confirm(message)) onYes(); return; }
    var el = document.getElementById("confirm-modal");
    if (!el) {
      el = document.createElement("div");
      el.className = "modal fade";
      el.id = "confirm-modal";
      el.tabIndex = -1;
      el.innerHTML =
        '<div class="modal-dialog modal-dialog-centered"><div class="modal-content">' +
        '<div class="modal-body"><p class="mb-0" data-role="message"></p></div>' +
        '<div class="modal-footer"><button type="button" class="btn btn-outline-secondary" data-bs-dismiss="modal">' +
        (document.documentElement.lang === "pl" ? "Anuluj" : "Cancel") + '</button>' +
        '<button type="button" class="btn btn-danger" data-role="yes">OK</button></div></div></div>';
      document.body.appendChild(el);
    }
    el.querySelector("[data-role=message]").textContent = message;
    var modal = window.bootstrap.Modal.getOrCreateInstance(el);
    var yes = el.querySelector("[data-role=yes]");
    yes.onclick = function () { modal.hide(); onYes(); };
    modal.show();
  }
  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    if (!form.dataset || !form.dataset.confirm || form.dataset.confirmed) return;
    ev.preventDefault();
    confirmModal(form.dataset.confirm, function () { form.dataset.confirmed = "1"; form.submit(); });
  });

  // Security selects fill in the usual port when the port field is empty or still a default.
  document.querySelectorAll("select[data-port-target]").forEach(function (select) {
    var ports = JSON.parse(select.dataset.ports);
    var input = document.getElementById(select.dataset.portTarget);
    if (!input) return;
    var defaults = Object.keys(ports).map(function (k) { return String(ports[k]); });
    function update() {
      input.placeholder = ports[select.value];
      if (input.value && defaults.indexOf(input.value) >= 0) input.value = ports[select.value];
    }
    select.addEventListener("change", update);
    input.placeholder = ports[select.value];
  });
  var auth = document.getElementById("auth_method");
  var note = document.getElementById("oauth-settings");
  if (auth && note) auth.addEventListener("change", function () { note.hidden = auth.value !== "oauth2"; });

  // Scanner actions: move rows up or down, then renumber the order inputs.
  var actions = document.getElementById("actions-list");
  if (actions) {
    var renumber = function () {
      actions.querySelectorAll("[data-role=order]").forEach(function (input, i) { input.value = i + 1; });
    };
    actions.addEventListener("click", function (ev) {
      var button = ev.target.closest("[data-move]");
      if (!button) return;
      var item = button.closest("li");
      if (button.dataset.move === "up" && item.previousElementSibling) {
        actions.insertBefore(item, item.previousElementSibling);
      } else if (button.dataset.move === "down" && item.nextElementSibling) {
        actions.insertBefore(item.nextElementSibling, item);
      }
      renumber();
      button.focus();
    });
  }

  // Scan history and run detail: poll the status every 2 s, update counters, reload on changes.
  var box = document.getElementById("runs") || document.getElementById("run");
  if (box && box.dataset.statusUrl) {
    var running = box.dataset.running ? box.dataset.running.split(",") : [];
    var latest = box.dataset.latest;
    var detail = !!box.dataset.detail;
    // Right after "Run scanning manually" the thread may not have created its run yet.
    var waitForStart = !!box.dataset.started && running.length === 0;
    var polls = 0;
    var fmt = function (s) {
      if (s === null || s === undefined) return "—";
      return s < 120 ? s.toFixed(1) + " s" : (s / 60).toFixed(1) + " min";
    };
    var poll = function () {
      if (detail && running.length === 0) return;
      if (!detail && running.length === 0 && !waitForStart) return;
      polls += 1;
      fetch(box.dataset.statusUrl + "?ids=" + running.join(","), { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (data) {
          if (!data) return;
          var ended = running.some(function (id) { return data.running.indexOf(Number(id)) < 0; });
          var appeared = !detail && String(data.latest_id) !== String(latest);
          if (ended || appeared) {
            window.location.href = window.location.href.replace(/([?&])started=1&?/, "$1").replace(/[?&]$/, "");
            return;
          }
          running.forEach(function (id) {
            var run = data.runs[id];
            if (!run) return;
            document.querySelectorAll('[data-run-id="' + id + '"] [data-counter]').forEach(function (cell) {
              var key = cell.dataset.counter;
              cell.textContent = key === "duration" ? fmt(run.duration_s) : run[key];
              var wrap = cell.closest("[data-hide-zero]");
              if (wrap) wrap.hidden = !run[key];
            });
          });
          if (waitForStart && polls > 15) waitForStart = false;  // nothing came: stop waiting
        })
        .catch(function () { /* the next tick tries again */ });
    };
    window.setInterval(poll, 2000);
  }
})();
