// What every script's requests need, in one place (loaded first by templates/base.html):
// ktl.csrfToken() reads the page's CSRF token (the csrf-token meta tag, the same token as
// the forms' hidden csrf_token field); ktl.postJSON(url, body) sends a JSON POST with it and
// asks for a JSON answer (errors come back as {"error": "..."} in the page's language).
(function () {
  "use strict";

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return (meta && meta.getAttribute("content")) || "";
  }

  function postJSON(url, body, options) {
    var extra = options || {};
    return fetch(url, {
      method: extra.method || "POST",
      credentials: "same-origin",
      keepalive: Boolean(extra.keepalive),
      headers: {
        "Content-Type": "application/json",
        "Accept": "application/json",
        "X-CSRF-Token": csrfToken()
      },
      body: JSON.stringify(body)
    });
  }

  window.ktl = window.ktl || {};
  window.ktl.csrfToken = csrfToken;
  window.ktl.postJSON = postJSON;
})();
