// Copy buttons (progressive enhancement): <button data-copy="ID" hidden> copies the value
// of the field with that id and says so in the element "ID-status". Without JavaScript
// the button stays hidden and the address is there to select and copy by hand.
(function () {
  "use strict";
  var source = document.getElementById("copy-messages");
  var text = source ? JSON.parse(source.textContent) : {};

  function say(id, message) {
    var status = document.getElementById(id + "-status");
    if (status) status.textContent = message || "";
  }

  function copy(button) {
    var id = button.dataset.copy;
    var field = document.getElementById(id);
    var fallback = function () {
      field.focus();
      field.select();
      say(id, text.failed);
    };
    if (!navigator.clipboard || !window.isSecureContext) { fallback(); return; }
    navigator.clipboard.writeText(field.value).then(function () { say(id, text.copied); }, fallback);
  }

  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    if (!document.getElementById(button.dataset.copy)) return;
    button.hidden = false;
    button.addEventListener("click", function () { copy(button); });
  });
})();
