// Talk page without a recording: resumable upload (tus), then attach it to the talk.
// tus-js-client keeps the upload's URL in localStorage under the file's fingerprint, so a
// dropped connection, a reload or choosing the same file again continues from the byte the
// server has (HEAD), instead of sending the whole file again. The entry is removed once the
// recording is attached, not when the last byte is sent: if attaching fails on the way, the
// same file chosen again goes straight to attaching.
(function () {
  "use strict";
  var section = document.querySelector("section.upload[data-endpoint]");
  if (!section || !window.tus) return;
  var input = document.getElementById("recording-file");
  var bar = document.getElementById("upload-progress");
  var statusText = document.getElementById("upload-status");
  var errorBox = document.getElementById("upload-error");
  var csrf = ktl.csrfToken();
  // The sentences come from the page, in its language (data-msg-* on the section).
  function t(name) { return section.getAttribute("data-msg-" + name) || ""; }

  function showError(message) {
    errorBox.textContent = message;
    errorBox.hidden = false;
    bar.hidden = true;
    statusText.textContent = "";
    input.disabled = false;
    input.value = "";
  }

  function forget(upload) {
    var storage = upload.options.urlStorage;
    return upload.findPreviousUploads().then(function (previous) {
      return Promise.all(previous.map(function (entry) {
        return storage.removeUpload(entry.urlStorageKey);
      }));
    }).catch(function () { /* a stale entry only costs a HEAD next time */ });
  }

  function attach(upload) {
    statusText.textContent = t("checking");
    var uploadId = upload.url.split("/").filter(Boolean).pop();
    return ktl.postJSON(section.dataset.attachUrl, { upload_id: uploadId }).then(function (response) {
      return response.json().then(function (body) {
        if (!response.ok) return showError(body.error || t("refused"));
        statusText.textContent = t("accepted");
        return forget(upload).then(function () { window.location.href = body.url; });
      });
    }).catch(function () {
      showError(t("unreachable"));
    });
  }

  // tus-js-client does not retry while the browser is offline; go on once it is back.
  function resumeWhenOnline(upload) {
    statusText.textContent = t("offline");
    window.addEventListener("online", function () { upload.start(); }, { once: true });
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
      removeFingerprintOnSuccess: false,  // forget() after attaching instead
      metadata: { filename: file.name, filetype: file.type || "" },
      onProgress: function (sent, total) {
        var share = total ? (sent / total) * 100 : 0;
        bar.value = share;
        var figure = share.toFixed(1);
        statusText.textContent = t("uploading").replace("{percent}",
          section.dataset.decimalComma ? figure.replace(".", ",") : figure);
      },
      onError: function (error) {
        if (navigator.onLine === false) return resumeWhenOnline(upload);
        var response = error && error.originalResponse;
        showError((response && response.getBody()) || t("stopped"));
      },
      onSuccess: function () { attach(upload); }
    });
    upload.findPreviousUploads().then(function (previous) {
      // The newest entry for this file: an older one may have expired on the server.
      previous.sort(function (a, b) { return Date.parse(b.creationTime) - Date.parse(a.creationTime); });
      if (previous.length) upload.resumeFromPreviousUpload(previous[0]);
      upload.start();
    });
  }

  input.addEventListener("change", function () {
    if (input.files && input.files[0]) start(input.files[0]);
  });
})();
