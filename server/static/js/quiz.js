// Talk page: timed quiz questions. Pauses the video at a question's moment, shows the
// question in a panel beside the player, posts the answer (the server says whether it
// was right) and lets the viewer continue. Correctness is never sent to the page before
// answering. Loaded only for signed-in viewers when the quiz has timed questions.
// Coming back (player.js resumes where the person left off), an unanswered question whose
// moment lies before that position is asked first, when playback starts.
(function () {
  "use strict";
  var video = document.getElementById("video");
  var data = document.getElementById("quiz-data");
  var template = document.getElementById("timed-question-template");
  if (!video || !data || !template || !window.fetch) return;
  var questions = [];
  var done = {};
  var answerUrl = "";
  var panel = null;
  var current = null;
  var last = null;
  // Where player.js resumes: the stored position, unless an address with ?t= says otherwise.
  var resumeAt = (parseFloat(video.dataset.start || "0") || 0) > 0
    ? 0 : parseFloat(video.dataset.resume || "0") || 0;
  var missedAsked = false;

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) { node.setAttribute(key, attrs[key]); });
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function build() {
    var fragment = template.content.cloneNode(true);
    var host = video.parentNode;
    host.insertBefore(fragment, video.nextSibling);
    panel = document.getElementById("timed-question");
    panel.hidden = true;
    panel.querySelector("form").addEventListener("submit", answer);
    document.getElementById("timed-skip").addEventListener("click", function () { close(true); });
    document.getElementById("timed-continue").addEventListener("click", function () { close(true); });
    panel.addEventListener("keydown", function (event) {
      if (event.key === "Escape") { event.preventDefault(); close(true); }
    });
  }

  function fillOptions(question) {
    var box = panel.querySelector(".timed-options");
    box.textContent = "";
    var name = "timed-" + question.id;
    if (question.kind === "reflection") {
      box.appendChild(el("label", { "for": name }, data.dataset.reflectionLabel));
      box.appendChild(el("textarea", { id: name, name: name, rows: "3" }));
      return;
    }
    var type = question.kind === "multiple" ? "checkbox" : "radio";
    // A true/false question's options are the page's own words for them (translated).
    var shown = question.kind === "truefalse" ? JSON.parse(data.dataset.truefalse) : question.options;
    shown.forEach(function (text, index) {
      var label = el("label", { "class": "choice" });
      label.appendChild(el("input", { type: type, name: name, value: String(index) }));
      label.appendChild(document.createTextNode(" " + text));
      box.appendChild(label);
    });
  }

  function open(question) {
    current = question;
    video.pause();
    if (!panel) build();
    panel.querySelector(".question-text").textContent = question.text;
    panel.querySelector(".timed-feedback").textContent = "";
    fillOptions(question);
    document.getElementById("timed-answer").hidden = false;
    document.getElementById("timed-skip").hidden = false;
    document.getElementById("timed-continue").hidden = true;
    panel.hidden = false;
    var first = panel.querySelector(".timed-options input, .timed-options textarea");
    (first || panel).focus();
  }

  function close(play) {
    if (current) done[current.id] = true;
    current = null;
    panel.hidden = true;
    video.focus();
    if (play) {
      var playing = video.play();
      if (playing && playing.catch) playing.catch(function () { /* stay paused */ });
    }
  }

  function chosen() {
    if (current.kind === "reflection") {
      var text = panel.querySelector(".timed-options textarea").value.trim();
      return text ? text : null;
    }
    var values = Array.prototype.map.call(
      panel.querySelectorAll(".timed-options input:checked"),
      function (input) { return parseInt(input.value, 10); }
    );
    if (!values.length) return null;
    return current.kind === "multiple" ? values : values[0];
  }

  function showResult(body) {
    var feedback = panel.querySelector(".timed-feedback");
    var verdict = body.correct === true ? data.dataset.right
      : body.correct === false ? data.dataset.wrong : data.dataset.noted;
    feedback.textContent = verdict + (body.explanation ? " " + body.explanation : "");
    panel.querySelectorAll(".timed-options input, .timed-options textarea").forEach(
      function (input) { input.disabled = true; }
    );
    document.getElementById("timed-answer").hidden = true;
    document.getElementById("timed-skip").hidden = true;
    var next = document.getElementById("timed-continue");
    next.hidden = false;
    next.focus();
  }

  function answer(event) {
    event.preventDefault();
    var feedback = panel.querySelector(".timed-feedback");
    var value = chosen();
    if (value === null) { feedback.textContent = data.dataset.choose; return; }
    var question = current;
    ktl.postJSON(answerUrl, { question_id: question.id, answer: value }).then(function (response) {
      return response.json().then(function (body) { return { ok: response.ok, body: body }; });
    }).then(function (reply) {
      if (question !== current) return;
      if (!reply.ok) { feedback.textContent = reply.body.error || data.dataset.failed; return; }
      done[question.id] = true;
      showResult(reply.body);
    }).catch(function () { feedback.textContent = data.dataset.failed; });
  }

  function due(now) {
    if (last === null || now - last > 3 || now < last) return null;
    for (var i = 0; i < questions.length; i += 1) {
      var q = questions[i];
      if (!done[q.id] && q.at_seconds > last - 0.001 && q.at_seconds <= now) return q;
    }
    return null;
  }

  video.addEventListener("timeupdate", function () {
    var now = video.currentTime;
    if (current) { last = now; return; }
    var question = due(now);
    last = now;
    if (question) open(question);
  });
  video.addEventListener("seeked", function () { last = Math.max(0, video.currentTime - 0.01); });

  // Resuming past a question's moment skips it (`due` sees only moments played through), so
  // the first unanswered one before the resume position is asked once playback starts.
  function askMissed() {
    if (missedAsked || current || !questions.length || video.paused) return;
    missedAsked = true;
    for (var i = 0; i < questions.length; i += 1) {
      var q = questions[i];
      if (!done[q.id] && q.at_seconds <= resumeAt) { open(q); return; }
    }
  }
  video.addEventListener("play", askMissed);
  video.addEventListener("playing", askMissed);

  fetch(data.dataset.url, { credentials: "same-origin", headers: { Accept: "application/json" } })
    .then(function (response) { return response.ok ? response.json() : null; })
    .then(function (body) {
      if (!body || body.closed) return;
      answerUrl = body.answer_url;
      (body.answered || []).forEach(function (id) { done[id] = true; });
      questions = body.questions.slice().sort(function (a, b) { return a.at_seconds - b.at_seconds; });
      askMissed();
    })
    .catch(function () { /* no timed questions: the video plays as usual */ });
}());
