/* The waiting page (C3): one clock, the server's. The page counts down the milliseconds the
 * server sent; at zero it asks the server (GET …/gate) and starts only when the server says
 * the start is open; otherwise it shows why (the countdown again, the proctor's "allow
 * start", the authorization) and asks again by itself. */
(function () {
  'use strict';
  var box = document.getElementById('waiting');
  if (!box) return;
  var D = box.dataset, countdown = document.getElementById('countdown');
  var target = null, asking = false, next = null, starting = false;

  function fmt(ms) {
    var s = Math.ceil(ms / 1000), h = Math.floor(s / 3600), m = Math.floor(s % 3600 / 60), sec = s % 60;
    return (h ? h + ':' + String(m).padStart(2, '0') : String(m)) + ':' + String(sec).padStart(2, '0');
  }
  function show(reason) {
    document.getElementById('wait-time').hidden = reason !== 'time';
    document.getElementById('wait-proctor').hidden = reason !== 'proctor';
    document.getElementById('wait-authorization').hidden = reason !== 'authorization';
    document.getElementById('wait-open').hidden = reason !== 'open';
    document.getElementById('start').hidden = reason !== 'open';
  }
  function later(ms) { clearTimeout(next); next = setTimeout(ask, ms); }
  function start() {
    if (starting) return;
    starting = true; show('open');
    document.getElementById('start-form').submit();
  }
  function apply(st) {
    document.getElementById('wait-offline').hidden = true;
    if (st.status !== 'rules_read') { location.replace(D.attemptUrl); return; }
    if (st.open) { start(); return; }
    show(st.reason);
    if (st.reason === 'time') {
      target = performance.now() + st.remaining_ms;   // never before the server's start
      later(Math.min(st.remaining_ms, 15000));         // at zero, or a re-sync on the way
    } else {
      target = null;
      later(2000 + Math.random() * 1000);             // the proctor's "allow start" moves us on
    }
  }
  function ask() {
    if (asking || starting) return;
    asking = true;
    fetch(D.gateUrl, {credentials: 'same-origin', cache: 'no-store', headers: {'Accept': 'application/json'}})
      .then(function (r) {
        if (r.status === 401 || r.status === 403) { location.reload(); throw new Error(r.status); }  // signed out: say so
        if (!r.ok) throw new Error(r.status);
        return r.json();
      })
      .then(function (st) { asking = false; apply(st); })
      .catch(function () { asking = false; document.getElementById('wait-offline').hidden = false; later(2000); });
  }
  function tick() {
    if (target === null) return;
    var ms = target - performance.now();
    countdown.textContent = fmt(Math.max(0, ms));
  }
  // A tab in the background runs its timers late: back in front, ask at once.
  document.addEventListener('visibilitychange', function () { if (!document.hidden) { clearTimeout(next); ask(); } });
  apply({status: 'rules_read', open: D.reason === 'open', reason: D.reason, remaining_ms: parseInt(D.remainingMs, 10)});
  setInterval(tick, 250);
})();
