// Links to a moment (progressive enhancement). The talk page's "Del" panel builds
// /talks/SLUG?t=START[&til=END] from its fields (START filled with the playing time when
// the panel opens); buttons with data-share-href (search hits, chapters) copy that link
// made absolute. Copying uses the clipboard API, else a selected field and
// execCommand("copy"), else leaves the link selected for Ctrl+C.
(function () {
  "use strict";
  var source = document.getElementById("share-messages");
  var text = source ? JSON.parse(source.textContent) : {};
  var video = document.getElementById("video");

  function toSeconds(raw) {
    var value = String(raw || "").trim();
    if (/^\d+(\.\d+)?$/.test(value)) return parseFloat(value);
    var match = /^(?:(\d+):)?(\d+):(\d{1,2}(?:\.\d+)?)$/.exec(value);
    if (!match || parseFloat(match[3]) >= 60) return null;
    return (parseInt(match[1] || "0", 10) * 3600) + parseInt(match[2], 10) * 60 + parseFloat(match[3]);
  }

  function clock(seconds) {
    var total = Math.floor(seconds), h = Math.floor(total / 3600), m = Math.floor(total % 3600 / 60), s = total % 60;
    var ss = (s < 10 ? "0" : "") + s;
    return h ? h + ":" + (m < 10 ? "0" : "") + m + ":" + ss : m + ":" + ss;
  }

  function absolute(href) { return new URL(href, window.location.href).href; }

  function say(status, message) {
    if (status) status.textContent = message || "";
  }

  function selectAndCopy(field) {
    field.focus();
    field.select();
    try { return document.execCommand("copy"); } catch (e) { return false; }
  }

  function copyText(value, field, status) {
    function fallback() {
      var scratch = field;
      if (!scratch) {
        scratch = document.createElement("textarea");
        scratch.value = value;
        scratch.setAttribute("readonly", "");
        scratch.className = "visually-hidden";
        document.body.appendChild(scratch);
      }
      var done = selectAndCopy(scratch);
      if (!field) document.body.removeChild(scratch);
      say(status, done ? text.copied : text.failed);
    }
    if (!navigator.clipboard || !window.isSecureContext) { fallback(); return; }
    navigator.clipboard.writeText(value).then(function () { say(status, text.copied); }, fallback);
  }

  // Buttons that copy one link each (search hits, chapters, notes); the message goes to
  // the status element right after the button.
  document.querySelectorAll("button[data-share-href]").forEach(function (button) {
    button.hidden = false;
    var status = button.nextElementSibling;
    if (!status || status.getAttribute("role") !== "status") status = null;
    button.addEventListener("click", function () {
      copyText(absolute(button.dataset.shareHref), null, status);
    });
  });

  // The end of a shared range (js/player.js pauses there and says so with an event).
  var notice = document.getElementById("range-notice");
  if (video && notice) {
    video.addEventListener("ktl:rangeend", function () {
      notice.textContent = text.range_end;
      notice.hidden = false;
    });
    video.addEventListener("play", function () { notice.hidden = true; });
  }

  // The talk page's panel.
  var panel = document.getElementById("share");
  var link = document.getElementById("share-link");
  if (!panel || !link) return;
  var from = document.getElementById("share-from");
  var to = document.getElementById("share-to");
  var error = document.getElementById("share-error");
  var embed = document.getElementById("share-embed");
  var touched = false;
  document.getElementById("share-times").hidden = false;

  function update() {
    var start = toSeconds(from.value || "0");
    var end = to.value.trim() ? toSeconds(to.value) : null;
    var problem = start === null || (to.value.trim() && end === null) ? text.bad_time
      : end !== null && end <= start ? text.bad_range : "";
    error.textContent = problem || "";
    from.setAttribute("aria-invalid", start === null ? "true" : "false");
    to.setAttribute("aria-invalid", problem && to.value.trim() ? "true" : "false");
    if (problem) return;
    var params = new URLSearchParams();
    if (start > 0 || end !== null) params.set("t", String(Math.floor(start)));
    if (end !== null) params.set("til", String(Math.ceil(end)));
    var query = params.toString();
    link.value = absolute(link.dataset.path + (query ? "?" + query : ""));
    if (embed) {
      embed.value = embed.value.replace(/src="[^"]*"/, 'src="' + absolute(embed.dataset.path + (query ? "?" + query : "")) + '"');
    }
  }

  function now() { return video ? Math.floor(video.currentTime || 0) : 0; }

  panel.addEventListener("toggle", function () {
    if (panel.open && !touched && video && video.currentTime > 0) {
      from.value = clock(now());
      update();
    }
  });
  [from, to].forEach(function (field) {
    field.addEventListener("input", function () { touched = true; update(); });
  });
  document.querySelectorAll("button.share-now").forEach(function (button) {
    button.addEventListener("click", function () {
      touched = true;
      document.getElementById(button.dataset.target).value = clock(now());
      update();
    });
  });
  panel.querySelectorAll("button[data-share-field]").forEach(function (copy) {
    var field = document.getElementById(copy.dataset.shareField);
    copy.hidden = false;
    copy.addEventListener("click", function () {
      copyText(field.value, field, document.getElementById(copy.dataset.shareField + "-status"));
    });
  });
  update();
})();
