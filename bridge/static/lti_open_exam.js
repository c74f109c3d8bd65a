/* ExamBridge: once the single-use "open the exam" link was followed, the framed page says
 * where the exam is (lti/toplevel.html). */
(function () {
  'use strict';
  var link = document.getElementById('open-exam');
  if (!link) return;
  link.addEventListener('click', function () {
    setTimeout(function () {
      document.getElementById('toplevel-ask').hidden = true;
      document.getElementById('toplevel-opened').hidden = false;
    }, 0);
  });
})();
