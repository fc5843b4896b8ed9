// Talk page while processing: poll the status and show each stage's progress live.
(function () {
  "use strict";
  var section = document.querySelector("[data-status-url]");
  if (!section) return;
  var url = section.dataset.statusUrl;

  // The state names come translated from the page (data-state-done, ...).
  function stateName(state) {
    return section.getAttribute("data-state-" + state) || state;
  }

  function show(id, visible) {
    var element = document.getElementById(id);
    if (element) element.hidden = !visible;
  }

  function render(status) {
    status.stages.forEach(function (stage) {
      var item = section.querySelector('[data-stage="' + stage.name + '"]');
      if (!item) return;
      item.className = "stage stage-" + stage.state;
      var bar = item.querySelector("progress");
      // No figure while the job waits for a worker: an indeterminate bar, not a frozen one.
      if (stage.progress === null) bar.removeAttribute("value");
      else bar.value = stage.progress;
      item.querySelector(".state").textContent = stateName(stage.state);
    });
    show("stage-waiting", status.waiting_for_worker);
    // Handed back for a worker that takes the next stage: say which (else the general text).
    var waiting = document.getElementById("stage-waiting-text");
    if (waiting) {
      waiting.textContent = status.waiting_for_stage ? status.notice + "." : waiting.dataset.generic;
    }
    show("stage-retry", status.can_retry);
    var box = document.getElementById("stage-error");
    if (status.error) {
      document.getElementById("stage-error-text").textContent = status.error;
      box.hidden = false;
    } else {
      box.hidden = true;
    }
  }

  function poll() {
    fetch(url, { headers: { Accept: "application/json" }, cache: "no-store" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (status) {
        if (!status) return setTimeout(poll, 5000);
        render(status);
        if (status.talk_status === "ready") return window.location.reload();
        // Packaged (and the package in the media folder) while the rest goes on: reload once
        // to show the player (with provisional captions, js/provisional.js).
        if (status.playable && !document.getElementById("video")) return window.location.reload();
        setTimeout(poll, status.job_state === "failed" ? 10000 : 1500);
      })
      .catch(function () { setTimeout(poll, 5000); });
  }
  setTimeout(poll, 1000);
})();
