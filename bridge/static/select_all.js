/* ExamBridge: the "select all" box of a candidate list ticks or clears every candidate and
 * follows the individual boxes (teaching/sessions.html). */
(function () {
  'use strict';
  var all = document.getElementById('select-all');
  if (!all) return;
  var boxes = document.querySelectorAll('#assign-list input[name="user_id"]');
  function sync() {
    var n = 0; boxes.forEach(function (b) { if (b.checked) { n++; } });
    all.checked = n === boxes.length; all.indeterminate = n > 0 && n < boxes.length;
  }
  all.addEventListener('change', function () { boxes.forEach(function (b) { b.checked = all.checked; }); sync(); });
  boxes.forEach(function (b) { b.addEventListener('change', sync); });
})();
