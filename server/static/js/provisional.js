// Talk page while the talk is still being transcribed: the captions track is provisional
// (the segments already transcribed, server/catalogue/provisional.py). Every few seconds
// fetch it again; when it has grown, put a fresh <track> in place of the old one, keeping
// whether captions were shown. js/status.js reloads the page when the transcript is done.
(function () {
  "use strict";
  var video = document.getElementById("video");
  var track = video && video.querySelector("track[data-provisional]");
  if (!track) return;
  var EVERY_MS = 8000;
  var base = track.getAttribute("src");
  var last = null;
  var round = 0;

  function swap(url) {
    var old = track;
    var mode = old.track ? old.track.mode : "showing";
    var fresh = old.cloneNode(false);
    fresh.setAttribute("src", url);
    fresh.addEventListener("load", function () {
      fresh.track.mode = mode;
      if (old.parentNode) old.parentNode.removeChild(old);
    }, { once: true });
    video.insertBefore(fresh, old);
    fresh.track.mode = mode === "disabled" ? "disabled" : "hidden";  // start loading it
    track = fresh;
  }

  function refresh() {
    round += 1;
    var url = base + "&n=" + round;
    fetch(url, { cache: "no-store" })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (text) {
        if (text !== null && last !== null && text !== last) swap(url);
        if (text !== null) last = text;
        setTimeout(refresh, EVERY_MS);
      })
      .catch(function () { setTimeout(refresh, EVERY_MS * 2); });
  }
  refresh();
})();
