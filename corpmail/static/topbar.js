// Top bar: refresh the mailboxes' unread badges from /mail/unread.json every mail_icon_refresh_s.
(function () {
  "use strict";
  var box = document.getElementById("topbar-mail");
  if (!box || box.dataset.showUnread !== "1") return;
  var url = box.dataset.unreadUrl;
  var every = Math.max(5, parseInt(box.dataset.refreshS, 10) || 60) * 1000;

  function show(badge, count) {
    // A failed count (null) shows no badge, as does zero.
    badge.textContent = count ? String(count) : "";
    badge.hidden = !count;
  }

  function apply(data) {
    var total = 0;
    (data.mailboxes || []).forEach(function (m) {
      if (m.unread) total += m.unread;
      document.querySelectorAll('[data-unread-for="' + m.id + '"]').forEach(function (b) {
        show(b, m.unread);
      });
    });
    document.querySelectorAll("[data-unread-total]").forEach(function (b) { show(b, total); });
  }

  function refresh() {
    if (document.hidden) return; // a background tab does not ask the mail server
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) { if (data) apply(data); })
      .catch(function () { /* offline or logged out: keep what is shown */ });
  }

  refresh();
  setInterval(refresh, every);
  document.addEventListener("visibilitychange", function () { if (!document.hidden) refresh(); });
})();
