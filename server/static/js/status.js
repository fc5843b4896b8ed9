// Talk page while processing: poll the status and show each stage's progress live.
(function () {
  "use strict";
  var section = document.querySelector("[data-status-url]");
  if (!section) return;
  var url = section.dataset.statusUrl;
  var names = { done: "ferdig", running: "pågår", waiting: "venter", failed: "feilet" };

  function render(status) {
    status.stages.forEach(function (stage) {
      var item = section.querySelector('[data-stage="' + stage.name + '"]');
      if (!item) return;
      item.className = "stage stage-" + stage.state;
      item.querySelector("progress").value = stage.progress;
      item.querySelector(".state").textContent = names[stage.state] || stage.state;
    });
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
        setTimeout(poll, status.job_state === "failed" ? 10000 : 1500);
      })
      .catch(function () { setTimeout(poll, 5000); });
  }
  setTimeout(poll, 1000);
})();
