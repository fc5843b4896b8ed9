// Going live from the browser (templates/live/organiser.html): camera, microphone and/or
// screen through MediaRecorder, 500 ms chunks over a WebSocket, each numbered. Chunks stay
// here until the server acknowledges them, so after a dropped connection the page connects
// again with the same stream id and sends what the server did not get (and if the server
// lost more than that, e.g. after a restart, starts a new recording, which the server keeps
// as a new part of the same broadcast). Also: the preview,
// the microphone level, the broadcast's state and viewers (server-sent events), and the
// audience's questions (polled).
(function () {
  "use strict";
  var data = document.getElementById("live-data");
  if (!data) return;
  var text = JSON.parse(document.getElementById("live-messages").textContent);
  var token = ktl.csrfToken();
  var startButton = document.getElementById("live-start");
  var stopButton = document.getElementById("live-stop");
  var statusLine = document.getElementById("send-status");
  var preview = document.getElementById("preview");
  var level = document.getElementById("level");
  var stateLine = document.getElementById("live-state");
  var viewers = document.getElementById("live-viewers");

  var media = null, recorder = null, socket = null, ready = false;
  var streamId = "", nextSeq = 0, sentThrough = -1, pending = [];
  var chain = Promise.resolve(), ending = false, finished = false, retryDelay = 500;

  function say(message) { if (statusLine) statusLine.textContent = message; }

  function mimeType() {
    var types = ["video/webm;codecs=vp8,opus", "video/webm;codecs=h264,opus", "video/webm",
                 "audio/webm;codecs=opus"];
    for (var i = 0; i < types.length; i++) {
      if (window.MediaRecorder.isTypeSupported(types[i])) return types[i];
    }
    return "";
  }

  function checked(id) { var box = document.getElementById(id); return box && box.checked; }

  async function capture() {
    var screen = checked("source-screen"), camera = checked("source-camera") && !screen;
    var microphone = checked("source-microphone");
    var tracks = [];
    if (screen) {
      var shown = await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false });
      tracks = tracks.concat(shown.getVideoTracks());
    }
    if (camera || microphone) {
      var user = await navigator.mediaDevices.getUserMedia({
        video: camera ? { width: { ideal: 1280 }, height: { ideal: 720 } } : false,
        audio: microphone
      });
      tracks = tracks.concat(user.getTracks());
    }
    return new MediaStream(tracks);
  }

  function meter(stream) {
    if (!level || !stream.getAudioTracks().length || !window.AudioContext) return;
    var context = new AudioContext();
    var analyser = context.createAnalyser();
    analyser.fftSize = 1024;
    context.createMediaStreamSource(stream).connect(analyser);
    var samples = new Float32Array(analyser.fftSize);
    (function draw() {
      analyser.getFloatTimeDomainData(samples);
      var sum = 0;
      for (var i = 0; i < samples.length; i++) sum += samples[i] * samples[i];
      level.value = Math.min(1, Math.sqrt(sum / samples.length) * 4);
      if (!finished) window.requestAnimationFrame(draw);
    })();
  }

  function acknowledged(received) {
    while (pending.length && pending[0][0] <= received) pending.shift();
  }

  function pump() {
    if (!socket || socket.readyState !== WebSocket.OPEN || !ready) return;
    pending.forEach(function (item) {
      if (item[0] <= sentThrough) return;
      var out = new Uint8Array(4 + item[1].byteLength);
      new DataView(out.buffer).setUint32(0, item[0]);
      out.set(new Uint8Array(item[1]), 4);
      socket.send(out);
      sentThrough = item[0];
    });
    if (ending && !pending.length) socket.send(JSON.stringify({ type: "end" }));
  }

  function connect() {
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(scheme + window.location.host + data.dataset.ws);
    socket.binaryType = "arraybuffer";
    ready = false;
    socket.onopen = function () {
      socket.send(JSON.stringify({ type: "hello", stream: streamId }));
    };
    socket.onmessage = function (event) {
      var message = JSON.parse(event.data);
      if (message.type === "ready") {
        var lowestHeld = pending.length ? pending[0][0] : nextSeq;
        if (lowestHeld > message.received + 1) {
          restartRecorder(); // the server lost what we no longer hold (e.g. it restarted)
          return;
        }
        ready = true;
        retryDelay = 500;
        acknowledged(message.received);
        sentThrough = message.received;
        say(ending ? text.ending : text.sending);
        pump();
      } else if (message.type === "ack") {
        acknowledged(message.received);
        if (ending) pump();
      } else if (message.type === "ended") {
        done();
      } else if (message.type === "error") {
        say(message.message);
      }
    };
    socket.onclose = function (event) {
      socket = null;
      ready = false;
      if (finished) return;
      if (event.code === 4403) { say(text.forbidden); return; }
      if (event.code === 4410) { stopSending(); return; } // refused for good: message shown
      say(text.reconnecting);
      window.setTimeout(connect, retryDelay);
      retryDelay = Math.min(retryDelay * 2, 5000);
    };
  }

  function newStreamId() {
    return Array.from(window.crypto.getRandomValues(new Uint8Array(12)),
      function (b) { return b.toString(16).padStart(2, "0"); }).join("");
  }

  // A new recording (with its own header) as a new part of the same broadcast.
  function restartRecorder() {
    if (recorder) {
      recorder.ondataavailable = null;
      recorder.onstop = null;
      if (recorder.state !== "inactive") recorder.stop();
    }
    pending = [];
    nextSeq = 0;
    sentThrough = -1;
    chain = Promise.resolve();
    streamId = newStreamId();
    startRecorder();
    if (socket) socket.send(JSON.stringify({ type: "hello", stream: streamId }));
  }

  function startRecorder() {
    var options = { videoBitsPerSecond: 2500000, audioBitsPerSecond: 128000 };
    var type = mimeType();
    if (type) options.mimeType = type;
    recorder = new MediaRecorder(media, options);
    recorder.ondataavailable = function (event) {
      if (!event.data || !event.data.size) return;
      var seq = nextSeq++;
      chain = chain.then(function () { return event.data.arrayBuffer(); }).then(function (buffer) {
        pending.push([seq, buffer]);
        pump();
      });
    };
    recorder.onstop = function () { chain.then(function () { ending = true; pump(); }); };
    recorder.start(500);
  }

  function stopSending() {
    finished = true;
    if (recorder && recorder.state !== "inactive") recorder.stop();
    if (media) media.getTracks().forEach(function (track) { track.stop(); });
    if (stopButton) stopButton.hidden = true;
  }

  function done() {
    finished = true;
    if (media) media.getTracks().forEach(function (track) { track.stop(); });
    say(text.ended);
    if (stopButton) stopButton.hidden = true;
    if (socket) socket.close();
    window.setTimeout(function () {
      window.location.href = data.dataset.talkUrl + "?melding=sending-avsluttet";
    }, 1500);
  }

  async function start() {
    if (!window.MediaRecorder || !navigator.mediaDevices) { say(text.unsupported); return; }
    if (!checked("source-camera") && !checked("source-microphone") && !checked("source-screen")) {
      say(text.nothing);
      return;
    }
    try {
      media = await capture();
    } catch (error) {
      say(text.denied);
      return;
    }
    preview.srcObject = media;
    preview.play().catch(function () {});
    meter(media);
    streamId = newStreamId();
    startRecorder();
    say(text.connecting);
    connect();
    startButton.hidden = true;
    stopButton.hidden = false;
    var encoder = document.querySelector(".send-encoder");
    if (encoder) encoder.hidden = true; // one source at a time
    stopButton.focus();
  }

  if (startButton) startButton.addEventListener("click", start);
  if (stopButton) {
    stopButton.addEventListener("click", function () {
      if (!window.confirm(text.confirm_end)) return;
      stopButton.disabled = true;
      say(text.ending);
      if (recorder && recorder.state !== "inactive") recorder.stop();
      else { ending = true; pump(); }
    });
  }

  // The broadcast's state and viewer count, as the viewers see it.
  var events = null;
  if (window.EventSource) {
    events = new EventSource(data.dataset.events);
    events.addEventListener("state", function (event) {
      var state = JSON.parse(event.data);
      if (viewers) viewers.textContent = state.viewers;
      if (stateLine) {
        stateLine.textContent = text.states[state.state] || state.state;
        stateLine.className = "live-state state-" + state.state;
      }
    });
  }

  // Questions from the audience, in the order they were asked.
  var list = document.getElementById("questions");
  function renderQuestions(questions) {
    list.textContent = "";
    if (!questions.length) {
      var empty = document.createElement("li");
      empty.className = "empty";
      empty.textContent = text.no_questions;
      list.appendChild(empty);
    }
    questions.forEach(function (q) {
      var item = document.createElement("li");
      item.className = "question" + (q.answered_at ? " answered" : "");
      var body = document.createElement("p");
      body.className = "question-text";
      body.textContent = q.text;
      var meta = document.createElement("p");
      meta.className = "meta";
      meta.textContent = q.asker + " · " + q.when; // Oslo time, as the server writes it
      var button = document.createElement("button");
      button.type = "button";
      button.className = "link-button";
      button.textContent = q.answered_at ? text.unanswered : text.answered;
      button.addEventListener("click", function () {
        fetch(data.dataset.answered + q.id + "/besvart", {
          method: "POST", credentials: "same-origin",
          headers: { "X-CSRF-Token": token, "Accept": "application/json",
                     "Content-Type": "application/x-www-form-urlencoded" },
          body: "answered=" + (q.answered_at ? "0" : "1")
        }).then(refresh);
      });
      item.append(body, meta, button);
      list.appendChild(item);
    });
  }
  function refresh() {
    return fetch(data.dataset.questions, { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (body) { if (body) renderQuestions(body.questions); })
      .catch(function () { /* next round */ });
  }
  if (list) {
    // A question asked or marked answered comes as an event; the poll is a fallback.
    if (events) events.addEventListener("question", refresh);
    window.setInterval(refresh, events ? 10000 : 3000);
  }
})();
