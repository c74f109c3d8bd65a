/* ExamBridge: the exam never runs inside a frame (the LMS's iframe, L6).
 * On a framed page, a link to an attempt page goes through /lti/toplevel instead, which
 * opens the exam in a window of its own with a single-use ticket; a framed attempt page
 * (a browser that honours neither fetch metadata nor X-Frame-Options) leaves for it too.
 * The server does the same from Sec-Fetch-Dest (lms_plugin/framing.py); this covers
 * browsers that do not send it. */
(function () {
  'use strict';
  var me = document.currentScript;
  if (!me || window.top === window.self) return;
  var breakout = me.getAttribute('data-breakout');
  var attemptPage = /^\/(exam\/\d+\/sit|attempt\/\d+|code)\/?$/;
  function via(url) {
    return breakout + '?framed=1&next=' + encodeURIComponent(url.pathname + url.search);
  }
  if (attemptPage.test(location.pathname)) { location.replace(via(location)); return; }
  document.addEventListener('click', function (e) {
    var a = e.target && e.target.closest ? e.target.closest('a[href]') : null;
    if (!a || (a.target && a.target !== '_self')) return;
    var url = new URL(a.href, location.href);
    if (url.origin !== location.origin || !attemptPage.test(url.pathname)) return;
    e.preventDefault();
    location.assign(via(url));
  }, true);
})();
