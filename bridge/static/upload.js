/* ExamBridge: the room's results upload, step by step until done; a stop resumes on the
 * next press (console/verification.html: #verification data-upload, #upload data-done/-failed). */
(function () {
  'use strict';
  var root = document.getElementById('verification'), button = document.getElementById('upload');
  if (!root || !button) return;
  var bar = document.getElementById('upload-progress'), status = document.getElementById('upload-status');
  var csrf = document.querySelector('meta[name="csrf-token"]').content;
  function step() {
    fetch(root.dataset.upload, {method: 'POST', headers: {'X-CSRF-Token': csrf}, credentials: 'same-origin'})
      .then(function (r) { return r.json().then(function (body) { return {ok: r.ok, body: body}; }); })
      .then(function (res) {
        if (!res.ok) { status.textContent = res.body.message; button.disabled = false; return; }
        bar.max = res.body.total || 1; bar.value = res.body.done;
        if (res.body.uploaded) { status.textContent = button.dataset.done; status.className = 'ok'; button.disabled = true; }
        else { step(); }
      })
      .catch(function () { status.textContent = button.dataset.failed; button.disabled = false; });
  }
  button.addEventListener('click', function () { button.disabled = true; step(); });
})();
