/* ExamBridge: inside the LMS iframe, go on with the login only when this browser kept the
 * probe cookie; else offer a new window (lti/cookie_check.html: #cookie-check carries
 * data-probe, the cookie's name, and data-auth-url, where the login goes on). */
(function () {
  'use strict';
  var box = document.getElementById('cookie-check');
  if (!box) return;
  var probe = box.dataset.probe + '=';
  var ok = document.cookie.split(';').some(function (c) { return c.trim().indexOf(probe) === 0; });
  if (ok) { window.location.replace(box.dataset.authUrl); return; }
  document.getElementById('checking').hidden = true;
  document.getElementById('blocked').hidden = false;
})();
