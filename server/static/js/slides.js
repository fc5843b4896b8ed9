// Talk page: the slide strip and the chapters under the player. A button jumps to its
// moment; the current slide and chapter follow playback (aria-current), and the strip
// scrolls sideways to keep the current slide in view (ktl.followPlayback, js/playback.js).
(function () {
  "use strict";
  var video = document.getElementById("video");
  if (!video) return;

  var strip = document.getElementById("slide-strip");
  var chapters = document.getElementById("chapter-list");
  if (strip) window.ktl.followPlayback(video, strip, { axis: "x" });
  if (chapters) window.ktl.followPlayback(video, chapters);
})();
