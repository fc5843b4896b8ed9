// Watch progress: records the intervals actually played and posts them to the server (the
// stored position is where player.js resumes). A seek starts a new interval, so skipping
// ahead never counts as watched. Loaded only for signed-in viewers (_progress_scripts.html).
(function () {
  "use strict";
  var video = document.getElementById("video");
  var data = document.getElementById("progress-data");
  if (!video || !data || !window.fetch) return;
  var url = data.dataset.url;
  var token = ktl.csrfToken();
  var MAX_STEP = 2; // seconds between two samples that still count as continuous playback
  var SEND_EVERY = 10000;

  var intervals = []; // played since the last post (the current one stays until it ends)
  var current = null;
  var dirty = false;

  function sample() {
    var t = video.currentTime;
    if (!isFinite(t)) return;
    if (current && t >= current[1] && t - current[1] < MAX_STEP) {
      if (t > current[1]) { current[1] = t; dirty = true; }
    } else {
      current = [t, t];
      intervals.push(current);
    }
  }

  video.addEventListener("timeupdate", function () {
    if (video.paused || video.seeking) return;
    sample();
  });
  video.addEventListener("seeking", function () { current = null; });

  function requeue(played) {
    played.forEach(function (i) { if (intervals.indexOf(i) < 0) intervals.push(i); });
    dirty = true;
  }

  function send() {
    var played = intervals.filter(function (i) { return i[1] > i[0]; });
    if (!dirty || !played.length) return;
    var body = JSON.stringify({
      intervals: played.map(function (i) { return [i[0], i[1]]; }),
      position: video.currentTime,
      duration: video.duration
    });
    dirty = false;
    intervals = current ? [current] : [];
    fetch(url, {
      method: "POST",
      keepalive: true,
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": token },
      body: body
    }).then(function (response) {
      if (response.status >= 500) requeue(played); // refused (4xx): not worth repeating
      else if (response.ok) response.json().then(seenNow, function () {});
    }).catch(function () { requeue(played); });
  }

  // Seen enough to count: the quiz box (if the quiz is still to pass) says to take it.
  function seenNow(body) {
    var hint = document.getElementById("quiz-to-complete");
    var needed = parseFloat(data.dataset.seenShare || "0.9");
    if (hint && body && body.share >= needed) hint.hidden = false;
  }

  window.setInterval(send, SEND_EVERY);
  video.addEventListener("pause", function () { sample(); send(); });
  video.addEventListener("ended", function () { sample(); send(); current = null; });
  window.addEventListener("pagehide", send);
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "hidden") send();
  });
})();
