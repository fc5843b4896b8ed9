// Talk page: HLS playback (hls.js, or native HLS), captions, and the transcript panel.
(function () {
  "use strict";
  var video = document.getElementById("video");
  if (!video) return;
  var start = parseFloat(video.dataset.start || "0") || 0;
  // A shared range (?t=START&til=END, or #t=START,END in seconds) plays just that part.
  var end = parseFloat(video.dataset.end || "0") || 0;
  var fragment = /^#t=(\d+(?:\.\d+)?)(?:,(\d+(?:\.\d+)?))?$/.exec(window.location.hash);
  if (fragment) {
    start = parseFloat(fragment[1]);
    end = fragment[2] ? parseFloat(fragment[2]) : 0;
  }
  if (!(end > start)) end = 0;
  var src = video.dataset.src;
  // Where this person left off (js/progress.js records it); an address with ?t= wins.
  var resume = start > 0 ? 0 : parseFloat(video.dataset.resume || "0") || 0;

  function onReady() {
    if (start > 0) window.ktl.seekAndPlay(video, start);
    else if (resume > 0 && video.currentTime < 1) video.currentTime = resume;
  }

  if (window.Hls && window.Hls.isSupported()) {
    var hls = new window.Hls({ startPosition: start > 0 ? start : resume > 0 ? resume : -1 });
    hls.loadSource(src);
    hls.attachMedia(video);
    hls.on(window.Hls.Events.MANIFEST_PARSED, onReady);
    hls.on(window.Hls.Events.ERROR, function (_event, data) {
      if (!data.fatal) return;
      if (data.type === window.Hls.ErrorTypes.NETWORK_ERROR) hls.startLoad();
      else if (data.type === window.Hls.ErrorTypes.MEDIA_ERROR) hls.recoverMediaError();
    });
  } else if (video.canPlayType("application/vnd.apple.mpegurl")) {
    video.src = src;
    video.addEventListener("loadedmetadata", onReady, { once: true });
  }

  // The end of a shared range: pause there once, and say so (js/share.js shows the notice).
  // Seeking out of the range lets the talk play on.
  video.addEventListener("timeupdate", function () {
    if (end && video.currentTime >= end) {
      end = 0;
      video.pause();
      video.dispatchEvent(new CustomEvent("ktl:rangeend"));
    }
  });
  video.addEventListener("seeked", function () {
    if (end && (video.currentTime < start - 1 || video.currentTime > end)) end = 0;
  });

  // Captions: on by default, toggled by the button (its labels come from the page, translated).
  var toggle = document.getElementById("captions-toggle");
  // Which caption track (the talk's language, or English machine translation): the select
  // #caption-track, else ?tekst=en, else the first. The choice is remembered.
  var trackSelect = document.getElementById("caption-track");
  var asked = new URLSearchParams(window.location.search).get("tekst");
  function chosenLanguage() {
    if (trackSelect) return trackSelect.value;
    return asked || "";
  }
  function captionTrack() {
    var tracks = video.textTracks || [];
    var wanted = chosenLanguage();
    for (var i = 0; i < tracks.length; i++) {
      if (tracks[i].language === wanted) return tracks[i];
    }
    return tracks[0];
  }
  function setCaptions(on) {
    var track = captionTrack();
    Array.prototype.forEach.call(video.textTracks || [], function (other) {
      if (other !== track) other.mode = "disabled";
    });
    if (track) track.mode = on ? "showing" : "hidden";
    if (toggle) {
      toggle.setAttribute("aria-pressed", on ? "true" : "false");
      toggle.textContent = (on ? toggle.dataset.on : toggle.dataset.off) || toggle.textContent;
    }
  }
  if (trackSelect) {
    var preferred = asked;
    try { preferred = preferred || window.localStorage.getItem("ktl.captionTrack"); } catch (e) { /* private mode */ }
    if (preferred && trackSelect.querySelector('option[value="' + preferred + '"]')) trackSelect.value = preferred;
    trackSelect.addEventListener("change", function () {
      try { window.localStorage.setItem("ktl.captionTrack", trackSelect.value); } catch (e) { /* not kept */ }
      setCaptions(true);
    });
  }
  setCaptions(true);
  if (toggle) {
    toggle.addEventListener("click", function () {
      setCaptions(toggle.getAttribute("aria-pressed") !== "true");
    });
  }

  // Caption size and colours: classes on the video that site.css styles with ::cue (no
  // inline styles: the CSP forbids them), remembered in localStorage.
  var CAPTION_SETTINGS = {
    size: { select: "caption-size", values: ["normal", "large", "xlarge"], key: "ktl.captionSize" },
    colours: { select: "caption-colours", values: ["white", "yellow", "black"], key: "ktl.captionColours" }
  };
  function remembered(key) {
    try { return window.localStorage.getItem(key); } catch (e) { return null; }
  }
  function remember(key, value) {
    try { window.localStorage.setItem(key, value); } catch (e) { /* private mode: not kept */ }
  }
  function applyCaptionSetting(name, value) {
    var setting = CAPTION_SETTINGS[name];
    if (setting.values.indexOf(value) < 0) value = setting.values[0];
    setting.values.forEach(function (v) { video.classList.remove("cue-" + name + "-" + v); });
    video.classList.add("cue-" + name + "-" + value);
    return value;
  }
  Object.keys(CAPTION_SETTINGS).forEach(function (name) {
    var setting = CAPTION_SETTINGS[name];
    var value = applyCaptionSetting(name, remembered(setting.key));
    var select = document.getElementById(setting.select);
    if (!select) return;
    select.value = value;
    select.addEventListener("change", function () {
      remember(setting.key, applyCaptionSetting(name, select.value));
    });
  });
  var settingsBox = document.getElementById("caption-settings");
  if (settingsBox) settingsBox.hidden = false;

  // The English transcript (a machine translation): click a line to jump.
  var english = document.getElementById("transcript-lines-en");
  if (english) {
    english.addEventListener("click", function (event) {
      var line = event.target.closest("button[data-start]");
      if (line) window.ktl.seekAndPlay(video, parseFloat(line.dataset.start));
    });
  }

  // Transcript panel: click a line to jump; the current line follows playback (js/playback.js).
  // A long transcript arrives in two parts: the first lines in the page, the rest fetched
  // after it (data-more) and appended, so the page paints without waiting for the whole text.
  var list = document.getElementById("transcript-lines");
  if (!list) return;
  var following = window.ktl.followPlayback(video, list, { axis: "y" });
  if (list.dataset.more) {
    list.setAttribute("aria-busy", "true");
    fetch(list.dataset.more, { credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.text();
      })
      .then(function (html) {
        list.insertAdjacentHTML("beforeend", html);
        following.refresh();
        var note = document.getElementById("transcript-more");
        if (note) note.hidden = true;
      })
      .catch(function () { /* the link to the whole text stays */ })
      .then(function () { list.removeAttribute("aria-busy"); });
  }
})();
