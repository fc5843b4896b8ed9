// What the talk page's lists need from the player, in one place (loaded before player.js
// and slides.js): ktl.seekAndPlay(video, seconds) jumps and plays, and
// ktl.followPlayback(video, list, options) makes the list's buttons[data-start] jump there
// when clicked and marks the one playing now (class "current", aria-current) as playback
// moves, scrolling the list to keep it in view (options.axis "x" or "y"; none: no scroll).
// It returns {refresh}: call refresh() after adding buttons at the end of the list.
(function () {
  "use strict";

  function seekAndPlay(video, seconds) {
    video.currentTime = seconds;
    var playing = video.play();
    if (playing && playing.catch) playing.catch(function () { /* autoplay refused: stay paused */ });
  }

  // The last start at or before `time` (starts ascending); -1 before the first.
  function indexAt(starts, time) {
    var lo = 0, hi = starts.length - 1, found = -1;
    while (lo <= hi) {
      var mid = (lo + hi) >> 1;
      if (starts[mid] <= time + 0.05) { found = mid; lo = mid + 1; } else { hi = mid - 1; }
    }
    return found;
  }

  function keepInView(list, item, axis) {
    var x = axis === "x";
    var at = x ? item.offsetLeft - list.offsetLeft : item.offsetTop - list.offsetTop;
    var size = x ? item.offsetWidth : item.offsetHeight;
    var view = x ? list.clientWidth : list.clientHeight;
    var scrolled = x ? list.scrollLeft : list.scrollTop;
    if (at >= scrolled && at + size <= scrolled + view) return;
    if (x) list.scrollLeft = at - view / 3;
    else list.scrollTop = at - view / 3;
  }

  function followPlayback(video, list, options) {
    var axis = (options || {}).axis;
    var buttons = [], starts = [], current = -1;
    function refresh() {  // buttons added after the ones there: the current one keeps its place
      buttons = Array.prototype.slice.call(list.querySelectorAll("button[data-start]"));
      starts = buttons.map(function (b) { return parseFloat(b.dataset.start); });
    }
    function update() {
      var index = indexAt(starts, video.currentTime);
      if (index === current) return;
      if (current >= 0) {
        buttons[current].classList.remove("current");
        buttons[current].removeAttribute("aria-current");
      }
      current = index;
      if (current < 0) return;
      var button = buttons[current];
      button.classList.add("current");
      button.setAttribute("aria-current", "true");
      if (axis) keepInView(list, button, axis);
    }
    list.addEventListener("click", function (event) {
      var button = event.target.closest("button[data-start]");
      if (button && list.contains(button)) seekAndPlay(video, parseFloat(button.dataset.start));
    });
    video.addEventListener("timeupdate", update);
    video.addEventListener("seeked", update);
    refresh();
    return { refresh: refresh };
  }

  window.ktl = window.ktl || {};
  window.ktl.seekAndPlay = seekAndPlay;
  window.ktl.followPlayback = followPlayback;
})();
