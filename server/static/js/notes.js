// Personal notes beside the transcript (progressive enhancement: the forms work without
// this). The new note's time becomes the playing time when the person starts writing;
// the forms are sent with fetch and the list is drawn again from the JSON answer, so the
// video keeps playing; a note's time jumps the player there.
(function () {
  "use strict";
  var section = document.getElementById("notater");
  if (!section) return;
  var video = document.getElementById("video");
  var list = document.getElementById("note-list");
  var empty = document.getElementById("note-empty");
  var error = document.getElementById("note-error");
  var template = document.getElementById("note-template");
  var form = document.getElementById("note-form");
  var text = form.querySelector("textarea");
  var at = document.getElementById("note-at");
  var source = document.getElementById("note-messages");
  var messages = source ? JSON.parse(source.textContent) : {};
  var base = form.getAttribute("action");
  var timeTouched = false;
  var csrf = ktl.csrfToken();

  function clock(seconds) {
    var total = Math.floor(seconds), h = Math.floor(total / 3600), m = Math.floor(total % 3600 / 60), s = total % 60;
    var ss = (s < 10 ? "0" : "") + s;
    return h ? h + ":" + (m < 10 ? "0" : "") + m + ":" + ss : m + ":" + ss;
  }

  at.addEventListener("input", function () { timeTouched = true; });
  text.addEventListener("input", function () {
    if (!timeTouched && video && text.value.length <= 1) at.value = clock(video.currentTime || 0);
  });

  function draw(notes) {
    list.textContent = "";
    notes.forEach(function (note) {
      var item = template.content.firstElementChild.cloneNode(true);
      var slug = base.replace(/\/notater$/, "");
      item.dataset.id = note.id;
      var jump = item.querySelector(".note-time");
      jump.href = slug + "?t=" + Math.floor(note.at);
      jump.dataset.start = note.at;
      jump.querySelector(".time").textContent = clock(note.at);
      item.querySelector(".note-text").textContent = note.text;
      item.querySelector(".note-update").action = base + "/" + note.id;
      item.querySelector(".note-delete").action = base + "/" + note.id + "/slett";
      item.querySelectorAll("[id$='-ny']").forEach(function (field) {
        var id = field.id.replace(/-ny$/, "-" + note.id);
        var label = item.querySelector("label[for='" + field.id + "']");
        if (label) label.htmlFor = id;
        field.id = id;
      });
      item.querySelector(".note-update textarea").value = note.text;
      item.querySelector(".note-update input[name=at]").value = clock(note.at);
      list.appendChild(item);
    });
    empty.hidden = notes.length > 0;
  }

  function send(target) {
    error.textContent = "";
    return fetch(target.action, {
      method: "POST",
      body: new URLSearchParams(new FormData(target)),
      headers: { "Accept": "application/json", "X-CSRF-Token": csrf },
      credentials: "same-origin"
    }).then(function (response) {
      // An answer that is not JSON (a proxy's error page) or no answer says only "failed".
      return response.json().catch(function () { return {}; }).then(function (body) {
        if (!response.ok || !body.notes) throw { said: body.error || messages.failed };
        draw(body.notes);
        return body;
      });
    }).catch(function (problem) {
      error.textContent = (problem && problem.said) || messages.failed;  // not "Failed to fetch"
      throw problem;
    });
  }

  document.addEventListener("submit", function (event) {
    var target = event.target;
    if (!section.contains(target)) return;
    event.preventDefault();
    send(target).then(function () {
      if (target === form) {
        text.value = "";
        timeTouched = false;
        text.focus();
      } else {
        list.focus();
      }
    }, function () { /* said in #note-error */ });
  });

  list.setAttribute("tabindex", "-1");
  list.addEventListener("click", function (event) {
    var jump = event.target.closest("a.note-time");
    if (!jump || !video) return;
    event.preventDefault();
    video.currentTime = parseFloat(jump.dataset.start) || 0;
    var playing = video.play();
    if (playing && playing.catch) playing.catch(function () { /* stays paused */ });
  });
})();
