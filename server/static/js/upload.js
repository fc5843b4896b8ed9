// Talk page without a recording: resumable upload (tus), then attach it to the talk.
(function () {
  "use strict";
  var section = document.querySelector("section.upload[data-endpoint]");
  if (!section || !window.tus) return;
  var input = document.getElementById("recording-file");
  var bar = document.getElementById("upload-progress");
  var statusText = document.getElementById("upload-status");
  var errorBox = document.getElementById("upload-error");
  var csrfMeta = document.querySelector('meta[name="csrf-token"]');
  var csrf = csrfMeta ? csrfMeta.content : "";

  function showError(message) {
    errorBox.textContent = message;
    errorBox.hidden = false;
    bar.hidden = true;
    statusText.textContent = "";
    input.disabled = false;
    input.value = "";
  }

  function attach(uploadUrl) {
    statusText.textContent = "Opplastingen er ferdig. Sjekker filen …";
    var uploadId = uploadUrl.split("/").filter(Boolean).pop();
    return fetch(section.dataset.attachUrl, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify({ upload_id: uploadId })
    }).then(function (response) {
      return response.json().then(function (body) {
        if (!response.ok) return showError(body.error || "Filen kunne ikke tas i bruk.");
        statusText.textContent = "Filen er godtatt. Behandlingen starter …";
        window.location.href = body.url;
      });
    }).catch(function () {
      showError("Fikk ikke kontakt med serveren. Sjekk nettverket og prøv igjen.");
    });
  }

  function start(file) {
    errorBox.hidden = true;
    input.disabled = true;
    bar.hidden = false;
    bar.value = 0;
    var upload = new window.tus.Upload(file, {
      endpoint: section.dataset.endpoint,
      chunkSize: 16 * 1024 * 1024,
      headers: { "X-CSRF-Token": csrf },
      retryDelays: [0, 1000, 3000, 5000, 10000, 20000, 30000, 60000],
      removeFingerprintOnSuccess: true,
      metadata: { filename: file.name, filetype: file.type || "" },
      onProgress: function (sent, total) {
        var share = total ? (sent / total) * 100 : 0;
        bar.value = share;
        statusText.textContent = "Laster opp: " + share.toFixed(1).replace(".", ",") + " %";
      },
      onError: function (error) {
        var body = error && error.originalResponse && error.originalResponse.getBody();
        showError(body || "Opplastingen stoppet. Velg filen igjen for å fortsette der den slapp.");
      },
      onSuccess: function () { attach(upload.url); }
    });
    upload.findPreviousUploads().then(function (previous) {
      if (previous.length) upload.resumeFromPreviousUpload(previous[0]);
      upload.start();
    });
  }

  input.addEventListener("change", function () {
    if (input.files && input.files[0]) start(input.files[0]);
  });
})();
