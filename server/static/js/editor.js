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
  var csrf = ktl.csrfToken();
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
      if (response.ok) { findStatus.textContent = t("added", { term: term }); return; }
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
        say(body.message || t("saved"), false);
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

  // ------------------------------------------------------------ doubtful words and review

  // Each row lists its doubtful words (.doubt buttons, from the server); "Neste usikre ord"
  // (Alt+U) selects the next one not yet checked in its text and fetches suggestions.
  // Segments worked in count as reviewed; kept in this browser's localStorage per talk
  // (by segment start time, so a saved version keeps what was gone through).
  var guide = document.getElementById("review-guide");
  var progressText = document.getElementById("review-progress");
  var progressBar = document.getElementById("review-bar");
  var suggestBox = document.getElementById("doubt-suggestions");
  var storeKey = "ktl-review-" + root.dataset.talk;
  var pick = null; // {row, chip, at, word}: the doubtful word being looked at

  function seen() {
    try { return JSON.parse(window.localStorage.getItem(storeKey) || "[]"); } catch (e) { return []; }
  }
  function remember() {
    var starts = rows().filter(function (r) { return r.classList.contains("visited"); })
      .map(function (r) { return field(r, "start").value; });
    try { window.localStorage.setItem(storeKey, JSON.stringify(starts)); } catch (e) { /* private mode */ }
  }
  function visit(row) {
    if (!row || row.classList.contains("visited")) return;
    row.classList.add("visited");
    remember();
    showProgress();
  }
  function chips() { return Array.prototype.slice.call(list.querySelectorAll("button.doubt")); }
  function wordAt(row, chip) {
    var text = field(row, "text").value;
    var re = new RegExp("(^|[^\\p{L}])(" + chip.dataset.word.replace(/[.*+?^${}()|[\]\\]/g, "\\$&") + ")(?![\\p{L}])", "gu");
    var best = -1, m;
    while ((m = re.exec(text)) !== null) {
      var at = m.index + m[1].length;
      if (best < 0 || Math.abs(at - chip.dataset.start) < Math.abs(best - chip.dataset.start)) best = at;
    }
    return best;
  }
  function open(chip) { // a chip whose word is still in its row's text and not checked
    var row = chip.closest("li.seg");
    if (chip.classList.contains("checked")) return -1;
    var at = wordAt(row, chip);
    if (at < 0) { chip.classList.add("checked"); }
    return at;
  }
  function showProgress() {
    var all = rows(), done = all.filter(function (r) { return r.classList.contains("visited"); }).length;
    var left = chips().filter(function (c) { return open(c) >= 0; }).length;
    var percent = all.length ? Math.round(done * 100 / all.length) : 100;
    progressBar.max = all.length;
    progressBar.value = done;
    progressText.textContent = t("reviewed", { done: done, total: all.length, percent: percent, left: left });
  }
  function select(row, chip, at) {
    var area = field(row, "text");
    area.focus();
    area.setSelectionRange(at, at + chip.dataset.word.length);
    activate(row);
    visit(row);
    chips().forEach(function (c) { c.classList.remove("current"); });
    chip.classList.add("current");
    pick = { row: row, chip: chip, at: at, word: chip.dataset.word };
    suggest(pick);
  }
  function nextDoubt() {
    var all = chips();
    if (pick) pick.chip.classList.add("checked");
    var from = current ? all.findIndex(function (c) { return current.contains(c); }) : 0;
    var order = all.slice(Math.max(from, 0)).concat(all.slice(0, Math.max(from, 0)));
    for (var i = 0; i < order.length; i++) {
      var at = open(order[i]);
      if (at >= 0) { select(order[i].closest("li.seg"), order[i], at); showProgress(); return; }
    }
    pick = null;
    suggestBox.hidden = true;
    showProgress();
    say(t("noDoubts"), false);
  }
  function suggest(target) {
    var listEl = document.getElementById("suggestion-list");
    document.getElementById("doubt-word").textContent = t("doubtWord", { word: target.word, why: target.chip.title });
    listEl.textContent = "";
    suggestBox.hidden = false;
    fetch(guide.dataset.suggestUrl + "?ord=" + encodeURIComponent(target.word), {
      headers: { Accept: "application/json" }, credentials: "same-origin"
    }).then(function (r) { return r.ok ? r.json() : { dictionary: [], vocabulary: [] }; })
      .then(function (body) {
        if (pick !== target) return;
        var words = (body.vocabulary || []).concat(body.dictionary || []);
        words = words.filter(function (w, i) { return words.indexOf(w) === i; });
        if (!words.length) { listEl.textContent = t("noSuggestions"); return; }
        words.forEach(function (w) {
          var li = document.createElement("li"), b = document.createElement("button");
          b.type = "button"; b.className = "suggestion"; b.textContent = w;
          b.addEventListener("click", function () { useSuggestion(target, w); });
          li.appendChild(b); listEl.appendChild(li);
        });
      }).catch(function () { listEl.textContent = t("offline"); });
  }
  function useSuggestion(target, word) {
    var area = field(target.row, "text");
    var at = wordAt(target.row, target.chip);
    if (at < 0) return;
    area.value = area.value.slice(0, at) + word + area.value.slice(at + target.word.length);
    target.chip.classList.add("checked");
    changed();
    area.focus();
    area.setSelectionRange(at, at + word.length);
    showProgress();
  }

  if (guide) {
    var before = seen();
    rows().forEach(function (r) { if (before.indexOf(field(r, "start").value) >= 0) r.classList.add("visited"); });
    list.addEventListener("focusin", function (event) { visit(event.target.closest("li.seg")); });
    list.addEventListener("click", function (event) {
      var chip = event.target.closest("button.doubt");
      if (!chip) return;
      var at = open(chip);
      if (at >= 0) select(chip.closest("li.seg"), chip, at);
    });
    list.addEventListener("input", function () { showProgress(); });
    document.getElementById("next-doubt").addEventListener("click", nextDoubt);
    document.getElementById("next-doubt").hidden = false;
    showProgress();
  }

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
      case "KeyU": if (guide) nextDoubt(); else handled = false; break;
      default: handled = false;
    }
    if (handled) event.preventDefault();
  });

  rows().forEach(function (row) { row.querySelector(".seg-tools").hidden = false; });
})();
