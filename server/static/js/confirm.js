// Asks before a destructive action (progressive enhancement; loaded on every page).
// A form with data-confirm="Question?" (or a submit button with it) is sent only when the
// person answers OK. With data-confirm-field="name" the form also sends name=1, so the
// server knows the question was asked and need not show its own confirmation page.
(function () {
  "use strict";
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var button = event.submitter;
    var question = (button && button.dataset.confirm) || form.dataset.confirm;
    if (!question) return;
    if (!window.confirm(question)) {
      event.preventDefault();
      event.stopImmediatePropagation();
      return;
    }
    var field = form.dataset.confirmField;
    if (field && !form.querySelector('input[name="' + field + '"]')) {
      var input = document.createElement("input");
      input.type = "hidden";
      input.name = field;
      input.value = "1";
      form.appendChild(input);
    }
  }, true);
})();
