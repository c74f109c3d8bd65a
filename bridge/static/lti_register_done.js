/* ExamBridge: a finished dynamic registration tells the LMS's window to close it (the LTI
 * Dynamic Registration message; lti/register_done.html). */
(function () {
  'use strict';
  (window.opener || window.parent).postMessage({subject: 'org.imsglobal.lti.close'}, '*');
})();
