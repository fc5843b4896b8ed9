// Transcript editor: play, correct, split, merge and retime segments; find and replace;
// keyboard shortcuts; save the whole segment list as JSON with the base version.
// The page works as a plain form without this script (edit text and times, then save).
(function () {
  "use strict";
  var root = document.querySelector("article.editor");
  var list = document.getElementById("segments");
  var form = document.getElementById("transcript-form");
  if (!root || !list || !form) return;
  var video = document.getElementById("video");
  var csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  var baseInput = document.getElementById("base-version");
  var status = document.getElementById("save-status");
  var words = new WeakMap(); // row -> [[start, end, word], ...]
  var current = null; // the row being worked on
  var stopAt = null; // when playing one segment: where to pause
  var dirty = false;
  // The page's sentences in its language (editor.html, #editor-messages); {name} is filled in.
  var messages = JSON.parse((document.getElementById("editor-messages") || {}).textContent || "{}");
  function t(key, values) {
    return (messages[key] || key).replace(/\{(\w+)\}/g, function (all, name) {
      return values && name in values ? values[name] : all;
    });
  }

  // ------------------------------------------------------------ rows

  function rows() { return Array.prototype.slice.call(list.querySelectorAll("li.seg")); }
  function field(row, name) { return row.querySelector("[name=" + name + "]"); }
  function num(row, name) { return parseFloat(field(row, name).value); }
  function setNum(row, name, value) { field(row, name).value = (Math.round(value * 1000) / 1000).toFixed(3); }

  (function attachWords() {
    var data = [];
    try { data = JSON.parse(document.getElementById("segments-data").textContent || "[]"); } catch (e) { data = []; }
    rows().forEach(function (row, i) { words.set(row, (data[i] && data[i].words) || []); });
  })();

  function renumber() {
    rows().forEach(function (row, i) {
      var n = i + 1;
      var area = field(row, "text");
      area.id = "text-" + n;
      var label = row.querySelector("label.visually-hidden");
      label.setAttribute("for", area.id);
      label.textContent = t("segmentText", { number: n });
      row.querySelector(".seg-number").textContent = n;
    });
  }

  function activate(row) {
    if (current === row) return;
    if (current) current.classList.remove("current");
    current = row;
    if (row) row.classList.add("current");
  }

  function changed() {
    dirty = true;
    say(t("unsaved"), false);
  }

  function say(message, isError) {
    status.textContent = message;
    status.className = isError ? "notice error" : "hint";
  }

  // ------------------------------------------------------------ playback

  function play(from, until) {
    if (!video) return;
    stopAt = until === undefined ? null : until;
    video.currentTime = from;
    var playing = video.play();
    if (playing && playing.catch) playing.catch(function () { /* refused: stay paused */ });
  }

  function togglePlay() {
    if (!video) return;
    stopAt = null;
    if (video.paused) { var p = video.play(); if (p && p.catch) p.catch(function () {}); }
    else video.pause();
  }

  function playRow(row) { if (row) play(num(row, "start"), num(row, "end")); }

  if (video) {
    video.addEventListener("timeupdate", function () {
      if (stopAt !== null && video.currentTime >= stopAt) { video.pause(); stopAt = null; }
    });
  }

  function move(step) {
    var all = rows();
    var index = current ? all.indexOf(current) : -1;
    var next = all[Math.max(0, Math.min(all.length - 1, index + step))];
    if (!next) return;
    activate(next);
    field(next, "text").focus();
    if (video && video.paused) video.currentTime = num(next, "start");
  }

  // ------------------------------------------------------------ split, merge, delete

  function splitTime(row, before, text) {
    var start = num(row, "start"), end = num(row, "end");
    var own = words.get(row) || [];
    var count = before.trim() ? before.trim().split(/\s+/).length : 0;
    var time;
    if (count > 0 && own.length > count) {
      time = (own[count - 1][1] + own[count][0]) / 2; // between the last word before and the next
    } else {
      time = start + (end - start) * (before.length / Math.max(1, text.length));
    }
    var margin = Math.min(0.01, (end - start) / 4);
    return Math.min(end - margin, Math.max(start + margin, time));
  }

  function split(row) {
    var area = field(row, "text");
    var text = area.value;
    var at = area.selectionStart;
    var before = text.slice(0, at), after = text.slice(at);
    if (!before.trim() || !after.trim()) {
      say(t("splitWhere"), true);
      return;
    }
    var time = splitTime(row, before, text);
    var copy = row.cloneNode(true);
    var own = words.get(row) || [];
    words.set(row, own.filter(function (w) { return (w[0] + w[1]) / 2 < time; }));
    words.set(copy, own.filter(function (w) { return (w[0] + w[1]) / 2 >= time; }));
    area.value = before.trim();
    field(copy, "text").value = after.trim();
    setNum(row, "end", time);
    setNum(copy, "start", time);
    copy.classList.remove("current");
    row.after(copy);
    renumber();
    changed();
    activate(copy);
    var next = field(copy, "text");
    next.focus();
    next.setSelectionRange(0, 0);
  }

  function merge(row) {
    var next = row.nextElementSibling;
    if (!next) { say(t("mergeLast"), true); return; }
    var area = field(row, "text");
    var join = area.value.trim().length;
    area.value = (area.value.trim() + " " + field(next, "text").value.trim()).trim();
    setNum(row, "end", Math.max(num(row, "end"), num(next, "end")));
    words.set(row, (words.get(row) || []).concat(words.get(next) || []));
    next.remove();
    renumber();
    changed();
    area.focus();
    area.setSelectionRange(join, join);
  }

  function remove(row) {
    var neighbour = row.nextElementSibling || row.previousElementSibling;
    row.remove();
    renumber();
    changed();
    activate(neighbour);
    if (neighbour) field(neighbour, "text").focus();
  }

  list.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-action]");
    if (!button) return;
    var row = button.closest("li.seg");
    activate(row);
    var action = button.dataset.action;
    if (action === "play") playRow(row);
    else if (action === "split") split(row);
    else if (action === "merge") merge(row);
    else if (action === "delete") remove(row);
  });
  list.addEventListener("focusin", function (event) { activate(event.target.closest("li.seg")); });
  list.addEventListener("input", changed);

  // ------------------------------------------------------------ find and replace

  var find = document.getElementById("find");
  var replaceWith = document.getElementById("replace");
  var findStatus = document.getElementById("find-status");
  var vocabularyButton = document.getElementById("add-vocabulary");

  function pattern(flags) {
    var needle = find.value;
    if (!needle) return null;
    var escaped = needle.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    if (document.getElementById("find-word").checked) {
      escaped = "(?<![\\p{L}\\p{N}])" + escaped + "(?![\\p{L}\\p{N}])";
    }
    var caseFlag = document.getElementById("find-case").checked ? "" : "i";
    return new RegExp(escaped, "u" + caseFlag + (flags || ""));
  }

  function findNext() {
    var re = pattern("g");
    if (!re) { findStatus.textContent = t("findWhat"); return false; }
    var all = rows();
    var startRow = current ? all.indexOf(current) : 0;
    var area = current ? field(current, "text") : null;
    var from = area && document.activeElement === area ? area.selectionEnd : 0;
    for (var k = 0; k <= all.length; k++) {
      var row = all[(Math.max(0, startRow) + k) % all.length];
      var text = field(row, "text");
      re.lastIndex = k === 0 ? from : 0;
      var match = re.exec(text.value);
      if (match) {
        activate(row);
        text.focus();
        text.setSelectionRange(match.index, match.index + match[0].length);
        findStatus.textContent = t("foundIn", { number: all.indexOf(row) + 1 });
        return true;
      }
    }
    findStatus.textContent = t("notFound", { text: find.value });
    return false;
  }

  function replaceOne() {
    var re = pattern("");
    var area = current ? field(current, "text") : null;
    if (re && area) {
      var selected = area.value.slice(area.selectionStart, area.selectionEnd);
      var whole = new RegExp("^(?:" + re.source + ")$", re.flags);
      if (selected && whole.test(selected)) {
        area.setRangeText(replaceWith.value, area.selectionStart, area.selectionEnd, "end");
        changed();
      }
    }
    findNext();
    updateVocabulary();
  }

  function replaceAll() {
    var re = pattern("g");
    if (!re) { findStatus.textContent = t("findWhat"); return; }
    var count = 0;
    rows().forEach(function (row) {
      var area = field(row, "text");
      var updated = area.value.replace(re, function () { count += 1; return replaceWith.value; });
      if (updated !== area.value) area.value = updated;
    });
    if (count) changed();
    findStatus.textContent = count
      ? t(count === 1 ? "replacedOne" : "replacedMany", { count: count })
      : t("notFound", { text: find.value });
    updateVocabulary();
  }

  function updateVocabulary() {
    var term = replaceWith.value.trim();
    vocabularyButton.disabled = !term;
    vocabularyButton.textContent = term ? t("addTerm", { term: term }) : t("addToList");
  }

  function addVocabulary() {
    var term = replaceWith.value.trim();
    if (!term) return;
    fetch(root.dataset.vocabularyUrl, {
      method: "POST",
      headers: { "X-CSRF-Token": csrf, "Accept": "application/json",
                 "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ term: term }).toString(),
      credentials: "same-origin",
    }).then(function (response) {
      if (response.ok) { findStatus.textContent = "«" + term + "» er lagt til i ordlisten for dette foredraget."; return; }
      return response.json().catch(function () { return {}; }).then(function (body) {
        findStatus.textContent = body.error || t("addFailed", { term: term });
      });
    }).catch(function () {
      findStatus.textContent = t("offline");
    });
  }

  if (find) {
    document.querySelector("section.find-replace").hidden = false;
    document.getElementById("find-next").addEventListener("click", findNext);
    document.getElementById("replace-one").addEventListener("click", replaceOne);
    document.getElementById("replace-all").addEventListener("click", replaceAll);
    vocabularyButton.addEventListener("click", addVocabulary);
    replaceWith.addEventListener("input", updateVocabulary);
    find.addEventListener("keydown", function (event) {
      if (event.key === "Enter") { event.preventDefault(); findNext(); }
    });
  }

  // ------------------------------------------------------------ saving

  function collect() {
    return rows().map(function (row) {
      return { start: num(row, "start"), end: num(row, "end"), text: field(row, "text").value };
    });
  }

  function refreshCaptions(version) {
    if (!video) return;
    var old = video.querySelector("track");
    var track = document.createElement("track");
    ["kind", "srclang", "label"].forEach(function (name) { if (old) track.setAttribute(name, old.getAttribute(name)); });
    track.src = root.dataset.captionsUrl + "&v=" + version;
    track.default = true;
    if (old) old.remove();
    video.appendChild(track);
    track.track.mode = "showing";
  }

  function showErrors(body) {
    say(body.error || t("saveFailed"), true);
    if (body.errors && body.errors.length > 1) {
      var ul = document.createElement("ul");
      body.errors.forEach(function (text) {
        var li = document.createElement("li");
        li.textContent = text;
        ul.appendChild(li);
      });
      status.appendChild(ul);
    }
  }

  function save() {
    var payload = { base_version: parseInt(baseInput.value, 10), segments: collect(),
                    note: document.getElementById("note").value };
    say(t("saving"), false);
    fetch(form.action, {
      method: "POST",
      headers: { "X-CSRF-Token": csrf, "Accept": "application/json", "Content-Type": "application/json" },
      body: JSON.stringify(payload),
      credentials: "same-origin",
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (body) {
        if (!response.ok) {
          if (response.status === 409) status.setAttribute("role", "alert");
          showErrors(body);
          return;
        }
        dirty = false;
        baseInput.value = body.version;
        document.getElementById("current-version").textContent = body.version;
        document.getElementById("note").value = "";
        say(body.message || "Lagret.", false);
        status.classList.add("saved");
        refreshCaptions(body.version);
      });
    }).catch(function () {
      say(t("saveOffline"), true);
    });
  }

  form.addEventListener("submit", function (event) { event.preventDefault(); save(); });
  window.addEventListener("beforeunload", function (event) {
    if (dirty) { event.preventDefault(); event.returnValue = ""; }
  });

  // ------------------------------------------------------------ keyboard

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey && !event.altKey && (event.key === "s" || event.key === "S")) {
      event.preventDefault();
      save();
      return;
    }
    if (!event.altKey || event.ctrlKey || event.metaKey) return;
    var handled = true;
    var row = current || rows()[0];
    switch (event.code) {
      case "KeyK": togglePlay(); break;
      case "KeyP": playRow(row); break;
      case "ArrowDown": move(1); break;
      case "ArrowUp": move(-1); break;
      case "Enter": case "NumpadEnter": if (row) split(row); break;
      case "KeyM": if (row) merge(row); break;
      default: handled = false;
    }
    if (handled) event.preventDefault();
  });

  rows().forEach(function (row) { row.querySelector(".seg-tools").hidden = false; });
})();
