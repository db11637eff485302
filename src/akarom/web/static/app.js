// akarom: a little progressive JavaScript. Every page works without it; with it,
// parts marked data-poll="URL" are refreshed in place until the server says done.
"use strict";
(function () {
  function poll(el) {
    var url = el.getAttribute("data-poll");
    var every = parseInt(el.getAttribute("data-every") || "1000", 10);
    if (!url) return;
    fetch(url, { headers: { "Accept": "text/html", "X-Fragment": "1" }, credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) {
        var holder = document.createElement("div");
        holder.innerHTML = html;
        var fresh = holder.firstElementChild;
        if (!fresh) return;
        el.replaceWith(fresh);
        if (fresh.hasAttribute("data-poll")) setTimeout(function () { poll(fresh); }, every);
        document.dispatchEvent(new CustomEvent("akarom:updated", { detail: fresh }));
      })
      .catch(function () { setTimeout(function () { poll(el); }, every * 3); });
  }
  function start() {
    document.querySelectorAll("[data-poll]").forEach(function (el) {
      var every = parseInt(el.getAttribute("data-every") || "1000", 10);
      setTimeout(function () { poll(el); }, every);
    });
    // A file chosen for a form marked data-autosubmit is sent at once (one tap on a phone).
    document.querySelectorAll("form[data-autosubmit] input[type=file]").forEach(function (input) {
      input.addEventListener("change", function () { if (input.files.length) input.form.submit(); });
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
