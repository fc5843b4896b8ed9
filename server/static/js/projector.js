// "Vis QR-koden på storskjerm" on the attendance page (templates/programme/attendance.html):
// the QR code, the talk's title and the check-in address fill the screen (Fullscreen API).
// Without this script, or where the browser refuses full screen, the link's target fills
// the window instead (CSS :target), and "Lukk storskjermen" goes back.
(function () {
  "use strict";
  var open = document.getElementById("projector-open");
  var view = document.getElementById("storskjerm");
  if (!open || !view || !view.requestFullscreen) return;
  open.addEventListener("click", function (event) {
    event.preventDefault();
    view.requestFullscreen().catch(function () { window.location.hash = "storskjerm"; });
  });
  view.querySelector(".projector-close").addEventListener("click", function (event) {
    if (document.fullscreenElement !== view) return;
    event.preventDefault();
    document.exitFullscreen();
  });
})();
