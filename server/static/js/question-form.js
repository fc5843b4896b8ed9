// Quiz question form (progressive enhancement): only the answer fields of the chosen kind
// are shown (options for one/several right answers, true/false for a statement, none for a
// reflection). Without JavaScript every fieldset stays visible and the server uses the ones
// that belong to the kind.
(function () {
  "use strict";
  var form = document.querySelector("form.question-form");
  if (!form) return;
  var parts = form.querySelectorAll("[data-for-kinds]");

  function show() {
    var chosen = form.querySelector('input[name="kind"]:checked');
    parts.forEach(function (part) {
      var kinds = part.dataset.forKinds.split(" ");
      part.hidden = !chosen || kinds.indexOf(chosen.value) < 0;
    });
  }

  form.querySelectorAll('input[name="kind"]').forEach(function (radio) {
    radio.addEventListener("change", show);
  });
  show();
})();
