// Watching live (templates/talks/_live.html): hls.js tuned to stay near the live edge,
// recovery from stalls and errors, the broadcast's state, viewer count and live captions
// (server-sent events), and questions to the speaker.
(function () {
  "use strict";
  var box = document.getElementById("live");
  if (!box) return;
  var video = document.getElementById("live-video");
  var join = document.getElementById("live-join");
  var badge = document.getElementById("live-badge");
  var waitingLabel = document.getElementById("live-waiting");
  var notice = document.getElementById("live-notice");
  var status = document.getElementById("live-status");
  var viewers = document.getElementById("live-viewers");
  var captions = document.getElementById("live-captions");
  var player = document.getElementById("live-player");
  var controls = document.getElementById("live-controls");
  var questionFields = document.getElementById("question-fields");
  var questionClosed = document.getElementById("question-closed");
  var text = JSON.parse(document.getElementById("live-watch-messages").textContent);
  var playlist = box.dataset.playlist;
  var hls = null, state = "", wanted = false, lastTime = -1, stalledFor = 0;

  function startPlayer() {
    if (hls || video.src) return;
    if (window.Hls && window.Hls.isSupported()) {
      hls = new window.Hls({
        liveSyncDurationCount: 1, liveMaxLatencyDurationCount: 5,
        maxLiveSyncPlaybackRate: 1.2, backBufferLength: 30,
        manifestLoadingMaxRetry: 20, levelLoadingMaxRetry: 20, fragLoadingMaxRetry: 20
      });
      hls.loadSource(playlist);
      hls.attachMedia(video);
      hls.on(window.Hls.Events.ERROR, function (_event, error) {
        if (!error.fatal) return;
        if (error.type === window.Hls.ErrorTypes.MEDIA_ERROR) hls.recoverMediaError();
        else window.setTimeout(function () { if (hls) hls.startLoad(-1); }, 1000);
      });
    } else if (video.canPlayType("application/vnd.apple.mpegurl")) {
      video.src = playlist;
    }
    var playing = video.play();
    if (playing && playing.catch) playing.catch(function () { /* waits for a click */ });
  }

  function stopPlayer() {
    if (hls) { hls.destroy(); hls = null; }
  }

  // A stall (no progress for 6 s while it should play): load again and go to the live edge.
  window.setInterval(function () {
    if (!wanted || state !== "live" || video.paused) { stalledFor = 0; return; }
    if (video.currentTime === lastTime) stalledFor += 2; else stalledFor = 0;
    lastTime = video.currentTime;
    if (stalledFor >= 6) {
      stalledFor = 0;
      if (hls) {
        hls.startLoad(-1);
        if (hls.liveSyncPosition) video.currentTime = hls.liveSyncPosition;
      } else if (video.seekable.length) {
        video.currentTime = video.seekable.end(video.seekable.length - 1) - 1;
      }
    }
  }, 2000);

  // Questions are taken while the talk is on air; before and after, the form says why not.
  function questionsOpen(next) {
    if (!questionFields) return;
    var open = next === "live" || next === "interrupted";
    questionFields.disabled = !open;
    questionClosed.hidden = open;
    if (open) questionFields.removeAttribute("aria-describedby");
    else questionFields.setAttribute("aria-describedby", "question-closed");
    questionClosed.textContent = next === "idle" ? text.questions_later : text.questions_over;
  }

  function applyState(next) {
    state = next;
    var over = next === "ending" || next === "ended";
    badge.hidden = next !== "live";
    waitingLabel.hidden = next === "live";
    notice.hidden = next !== "interrupted";
    player.hidden = over;  // after the end only the recording's state is shown
    controls.hidden = over;
    questionsOpen(next);
    if (next === "idle") status.textContent = text.idle;
    else if (over) status.textContent = text.ended;
    else status.textContent = "";
    if (next === "live" && wanted) startPlayer();
    if (over) { stopPlayer(); video.pause(); }
    if (next === "ended") {
      // The page shows the recording being processed (and later the recording) by itself.
      window.setTimeout(function () { window.location.reload(); }, 2000);
    }
  }

  // Arriving from "Direkte nå" (?direkte=1) is the click: play at once, muted, as browsers
  // allow without another gesture (the player's own button turns the sound on).
  if (new URLSearchParams(window.location.search).get("direkte") === "1") {
    wanted = true;
    video.muted = true;
    join.hidden = true;
  }

  join.addEventListener("click", function () {
    wanted = true;
    join.hidden = true;
    if (state === "live" || state === "interrupted") startPlayer();
    else status.textContent = text.idle;
  });

  function showCaption(line) {
    var item = document.createElement("p");
    item.textContent = line.text;
    captions.appendChild(item);
    while (captions.children.length > 2) captions.removeChild(captions.firstChild);
  }

  if (window.EventSource) {
    var events = new EventSource(box.dataset.events);
    events.addEventListener("state", function (event) {
      var body = JSON.parse(event.data);
      viewers.textContent = body.viewers;
      if (body.state !== state) applyState(body.state);
      if (body.state === "ended") events.close();
    });
    events.addEventListener("caption", function (event) { showCaption(JSON.parse(event.data)); });
  }

  // Questions: sent without leaving the page (the form works without JavaScript too).
  var form = document.getElementById("question-form");
  if (form && window.fetch) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var field = document.getElementById("question-text");
      var said = document.getElementById("question-status");
      ktl.postJSON(form.action, { text: field.value }).then(function (response) {
        return response.json().then(function (body) {
          if (response.ok) { field.value = ""; said.textContent = form.dataset.sent || "✓"; }
          else said.textContent = body.error;
        });
      }).catch(function () { said.textContent = form.dataset.failed || ""; });
    });
  }
})();
