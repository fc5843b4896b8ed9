// Talk page: the slide strip and the chapters under the player. A button jumps to its
// moment; the current slide and chapter follow playback (aria-current), and the strip
// scrolls sideways to keep the current slide in view.
(function () {
  "use strict";
  var video = document.getElementById("video");
  if (!video) return;

  function seekAndPlay(seconds) {
    video.currentTime = seconds;
    var playing = video.play();
    if (playing && playing.catch) playing.catch(function () { /* autoplay refused: stay paused */ });
  }

  function follow(list, sideways) {
    if (!list) return;
    var buttons = Array.prototype.slice.call(list.querySelectorAll("button[data-start]"));
    var starts = buttons.map(function (b) { return parseFloat(b.dataset.start); });
    var current = -1;
    buttons.forEach(function (button) {
      button.addEventListener("click", function () { seekAndPlay(parseFloat(button.dataset.start)); });
    });
    function indexAt(time) {
      var found = -1;
      for (var i = 0; i < starts.length && starts[i] <= time + 0.05; i++) found = i;
      return found;
    }
    function update() {
      var index = indexAt(video.currentTime);
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
      if (sideways) {
        var left = button.offsetLeft - list.offsetLeft;
        if (left < list.scrollLeft || left + button.offsetWidth > list.scrollLeft + list.clientWidth) {
          list.scrollLeft = left - list.clientWidth / 3;
        }
      }
    }
    video.addEventListener("timeupdate", update);
    video.addEventListener("seeked", update);
  }

  follow(document.getElementById("slide-strip"), true);
  follow(document.getElementById("chapter-list"), false);
})();
