/* ExamBridge: small page behaviours without inline handlers (the Content-Security-Policy
 * runs no inline script, bridge/web/security_headers.py).
 * - <form data-confirm="question">: asks before it submits; with data-confirm-field="name"
 *   it also sets that hidden field to "1" once confirmed (re-exam init).
 * - <button data-print>: prints the page. */
(function () {
  'use strict';
  document.addEventListener('submit', function (e) {
    var form = e.target;
    if (!form || !form.dataset || form.dataset.confirm === undefined) return;
    if (!window.confirm(form.dataset.confirm)) { e.preventDefault(); e.stopImmediatePropagation(); return; }
    var field = form.dataset.confirmField && form.elements[form.dataset.confirmField];
    if (field) field.value = '1';
  }, true);
  document.addEventListener('click', function (e) {
    var button = e.target && e.target.closest ? e.target.closest('[data-print]') : null;
    if (button) { e.preventDefault(); window.print(); }
  });
})();
