/* The exam page (C3, C5–C7): every change becomes an event (writer, seq) queued in
 * localStorage and sent in order; the server acknowledges only after commit. Offline, the
 * queue waits and retries; a reload or another device resumes from the server's state.
 * Leaving the page locks the attempt (reloading it does not); submit is idempotent and
 * retried with backoff.
 * On an exam PC with the kiosk agent (K4, docs/protocol.md "The local endpoint"), each
 * event goes to the agent on 127.0.0.1 first: "saved on this PC" once it is on the PC's
 * disk, "saved" once the server has it (the agent forwards it, online or later). */
(function () {
  'use strict';
  var root = document.getElementById('exam');
  if (!root) return;
  var T = JSON.parse(document.getElementById('exam-text').textContent);
  var D = root.dataset, attempt = D.attempt, epoch = parseInt(D.epoch, 10);
  var store = window.localStorage, session = window.sessionStorage;

  function fmt(s, vars) { return s.replace(/%\((\w+)\)s/g, function (_, k) { return vars[k]; }); }
  function rand() { return Math.random().toString(36).slice(2, 10) + Date.now().toString(36); }

  // One writer per browser tab: the same tab after a reload keeps its sequence.
  var writerKey = 'eb-writer-' + attempt;
  var writer = session.getItem(writerKey) || ('tab-' + rand());
  session.setItem(writerKey, writer);
  var seqKey = 'eb-seq-' + attempt + '-' + writer, queueKey = 'eb-queue-' + attempt + '-' + writer;
  var flagKey = 'eb-flags-' + attempt;
  var seq = parseInt(store.getItem(seqKey) || '0', 10);
  var queue = JSON.parse(store.getItem(queueKey) || '[]');
  var flags = JSON.parse(store.getItem(flagKey) || '{}');
  var inflight = false, backoff = 1000, retryTimer = null, status = D.status, leaving = false, picking = false;

  function post(url, body) {
    return fetch(url, {method: 'POST', credentials: 'same-origin', headers: {
      'Content-Type': 'application/json', 'X-CSRF-Token': D.csrf, 'Accept': 'application/json'},
      body: JSON.stringify(body || {})});
  }
  function saveQueue() { store.setItem(queueKey, JSON.stringify(queue)); store.setItem(seqKey, String(seq)); }

  // --- reading and writing the inputs -------------------------------------------------
  var items = Array.prototype.slice.call(document.querySelectorAll('.item'));
  function itemFor(qid) { return document.querySelector('.item[data-question="' + qid + '"]'); }
  function read(item) {
    var t = item.dataset.type, q = item.dataset.question;
    if (t === 'single') { var c = item.querySelector('input:checked'); return c ? {choice: c.value} : null; }
    if (t === 'multiple') {
      var all = item.querySelectorAll('input:checked'), out = [];
      for (var i = 0; i < all.length; i++) out.push(all[i].value);
      return {choices: out};
    }
    if (t === 'truefalse') { var v = item.querySelector('input:checked'); return v ? {value: v.value === 'true'} : null; }
    if (t === 'fill') { return {blanks: Array.prototype.map.call(item.querySelectorAll('.blank'), function (b) { return b.value; })}; }
    if (t === 'essay') { return {text: item.querySelector('.essay').value}; }
    return item._file || null;
  }
  function write(item, r) {
    if (!r) return;
    var t = item.dataset.type;
    if (t === 'single') item.querySelectorAll('input').forEach(function (i) { i.checked = i.value === r.choice; });
    if (t === 'multiple') item.querySelectorAll('input').forEach(function (i) { i.checked = (r.choices || []).indexOf(i.value) >= 0; });
    if (t === 'truefalse') item.querySelectorAll('input').forEach(function (i) { i.checked = (i.value === 'true') === r.value; });
    if (t === 'fill') item.querySelectorAll('.blank').forEach(function (b, i) { b.value = (r.blanks || [])[i] || ''; });
    if (t === 'essay') item.querySelector('.essay').value = r.text || '';
    if (t === 'upload' && r.sha256) {
      item._file = {sha256: r.sha256, name: r.name};
      item.querySelector('.uploaded').textContent = r.name + (r.size ? ' (' + Math.ceil(r.size / 1024) + ' KB)' : '');
    }
  }
  function answered(item) {
    var r = read(item);
    if (!r) return false;
    if (r.choices) return r.choices.length > 0;
    if (r.blanks) return r.blanks.some(function (b) { return b.trim() !== ''; });
    if (typeof r.text === 'string') return r.text.trim() !== '';
    return true;
  }
  function mark(item, state, text) {
    var el = item.querySelector('.save-state');
    el.dataset.state = state; el.textContent = text || T[state] || '';
    var nav = document.getElementById('nav-' + item.dataset.question);
    nav.classList.toggle('answered', answered(item));
    nav.classList.toggle('flagged', !!flags[item.dataset.question]);
    var pending = queue.length;
    document.getElementById('save-summary').textContent = pending ? fmt(T.pending, {n: pending}) : T.all_saved;
  }

  // --- the queue ----------------------------------------------------------------------
  function change(item) {
    var r = read(item);
    if (!r) return;
    seq += 1;
    queue.push({writer: writer, seq: seq, question_id: parseInt(item.dataset.question, 10), response: r,
                client_time: Date.now() / 1000, epoch: epoch});
    saveQueue(); mark(item, 'saving'); flush();
  }
  function schedule() {
    if (retryTimer) return;
    retryTimer = setTimeout(function () { retryTimer = null; flush(); }, backoff);
    backoff = Math.min(backoff * 2, 15000);
  }
  function flush() { return agent ? flushAgent() : flushDirect(); }
  function flushDirect() {
    if (inflight || !queue.length || status === 'submitted') return Promise.resolve();
    inflight = true;
    var batch = queue.slice(0, 50);
    return post(D.answersUrl, {events: batch}).then(function (resp) {
      if (resp.status === 403 || resp.status === 401) { location.reload(); return; }
      return resp.json().then(function (body) {
        if (!resp.ok && !body.acks) throw new Error(body.message || resp.status);
        var done = {};
        (body.acks || []).forEach(function (a) {
          done[a.seq] = true;
          if (a.error === 'locked') showLock();
          if (a.error === 'submitted' || a.error === 'deadline') { location.href = D.doneUrl; }
          if (a.error && a.error !== 'locked') {
            var ev = batch.filter(function (e) { return e.seq === a.seq; })[0];
            if (ev) mark(itemFor(ev.question_id), 'error', T.error + ': ' + (a.message || a.error));
          }
          if (a.error === 'locked') delete done[a.seq];   // keep it: it is sent again after the unlock
        });
        queue = queue.filter(function (e) { return !done[e.seq]; });
        saveQueue(); backoff = 1000;
        batch.forEach(function (e) {
          var item = itemFor(e.question_id);
          var waiting = queue.some(function (q) { return q.question_id === e.question_id; });
          if (!waiting && item.querySelector('.save-state').dataset.state !== 'error') mark(item, 'saved');
        });
      });
    }).catch(function () {
      queue.forEach(function (e) { mark(itemFor(e.question_id), 'offline'); });
      schedule();
    }).then(function () { inflight = false; if (queue.length && !retryTimer && status !== 'locked') flush(); });
  }

  // Typing is saved 400 ms after the last key; leaving or reloading the page saves at once
  // (into the local queue, which the next page load sends).
  var typing = {};
  function typed(item) {
    var q = item.dataset.question;
    if (typing[q]) { clearTimeout(typing[q]); delete typing[q]; change(item); }
  }
  window.addEventListener('pagehide', function () { items.forEach(typed); });
  items.forEach(function (item) {
    item.addEventListener('change', function (ev) {
      if (ev.target.classList.contains('upload')) return upload(item, ev.target);
      if (typing[item.dataset.question]) { clearTimeout(typing[item.dataset.question]); delete typing[item.dataset.question]; }
      change(item);
    });
    item.addEventListener('input', function (ev) {
      if (!ev.target.matches('.blank, .essay')) return;
      clearTimeout(typing[item.dataset.question]);
      typing[item.dataset.question] = setTimeout(function () { typed(item); }, 400);
    });
    item.querySelector('.flag').addEventListener('click', function (ev) {
      var q = item.dataset.question; flags[q] = !flags[q];
      ev.target.setAttribute('aria-pressed', flags[q] ? 'true' : 'false');
      store.setItem(flagKey, JSON.stringify(flags)); mark(item, item.querySelector('.save-state').dataset.state);
    });
    item.querySelectorAll('.stem img').forEach(function (img) {
      img.addEventListener('click', function () {
        var z = document.getElementById('zoom'); z.querySelector('img').src = img.src; z.hidden = false;
      });
    });
  });
  document.getElementById('zoom').addEventListener('click', function () { this.hidden = true; });

  function upload(item, input) {
    picking = false;
    var file = input.files[0]; if (!file) return;
    var data = new FormData(); data.append('file', file);
    mark(item, 'saving', T.uploading);
    fetch(D.uploadUrl + item.dataset.question, {method: 'POST', credentials: 'same-origin',
      headers: {'X-CSRF-Token': D.csrf}, body: data}).then(function (resp) {
      return resp.json().then(function (body) {
        if (!resp.ok) { mark(item, 'error', T.error + ': ' + body.message); return; }
        write(item, body); change(item);
      });
    }).catch(function () { mark(item, 'offline'); });
  }
  document.querySelectorAll('input.upload').forEach(function (i) { i.addEventListener('click', function () { picking = true; }); });

  // --- state from the server: answers, clock, lock ------------------------------------
  var deadline = performance.now() + parseInt(D.remaining, 10);
  function tick() {
    var ms = Math.max(0, deadline - performance.now()), s = Math.floor(ms / 1000);
    var h = Math.floor(s / 3600), m = Math.floor(s % 3600 / 60), sec = s % 60;
    document.getElementById('timer').textContent = (h ? h + ':' : '') + String(m).padStart(2, '0') + ':' + String(sec).padStart(2, '0');
    if (ms <= 0 && status !== 'submitted') { status = 'submitted'; flush().then(function () { location.href = D.doneUrl; }); }
  }
  setInterval(tick, 250); tick();
  function refresh() {
    return fetch(D.stateUrl, {credentials: 'same-origin', headers: {'Accept': 'application/json'}}).then(function (r) {
      if (!r.ok) return;
      return r.json().then(function (st) {
        if (typeof st.remaining_ms === 'number') deadline = performance.now() + st.remaining_ms;
        if (st.status === 'submitted') { location.href = D.doneUrl; return; }
        if (typeof st.epoch === 'number') epoch = st.epoch;
        if (st.status === 'locked') showLock(); else if (status === 'locked' && st.status === 'in_exam') hideLock();
        status = st.status;
        return st;
      });
    }).catch(function () {});
  }
  refresh().then(function (st) {
    return findAgent().then(function () { return st; });
  }).then(function (st) {
    var answers = (st && st.answers) || {};
    items.forEach(function (item) { write(item, answers[item.dataset.question]); });
    queue.forEach(function (e) { write(itemFor(e.question_id), e.response); });  // not yet on the server: newer
    items.forEach(function (item) {
      var q = item.dataset.question, waiting = queue.some(function (e) { return String(e.question_id) === q; });
      item.querySelector('.flag').setAttribute('aria-pressed', flags[q] ? 'true' : 'false');
      if (waiting) mark(item, 'offline');
      else if (answered(item)) mark(item, 'saved');
      else mark(item, 'empty', '');
    });
    flush();
  });
  setInterval(function () { refresh(); if (!agent) findAgent().then(function (a) { if (a) flush(); }); }, 30000);
  window.addEventListener('online', function () { backoff = 1000; flush(); });

  // --- the kiosk agent (K4) ----------------------------------------------------------
  // The queue keeps an event until the server has it; the agent journals it (fsync) and
  // forwards it, so "saved on this PC" survives a dead network, a crash or a reload.
  var agent = null, journaled = 0, serverSeq = 0, agentBusy = false;
  var agentMeta = {exam_id: parseInt(D.examId, 10) || null, session_id: parseInt(D.sessionId, 10) || null};
  function agentFetch(path, body) {
    var init = {method: body ? 'POST' : 'GET', headers: {'X-Kiosk-Token': agent.token}};
    if (body) { init.headers['Content-Type'] = 'application/json'; init.body = JSON.stringify(body); }
    return fetch(D.agentUrl + path, init);
  }
  function findAgent() {
    if (!D.agentUrl || !D.forwardToken) return Promise.resolve(null);
    var ctl = window.AbortController ? new AbortController() : null;
    var timer = ctl ? setTimeout(function () { ctl.abort(); }, 1500) : null;
    return fetch(D.agentUrl + '/v1/hello', ctl ? {signal: ctl.signal} : {}).then(function (r) {
      return r.ok ? r.json() : null;
    }).then(function (hello) {
      clearTimeout(timer);
      if (hello && hello.token) { agent = {token: hello.token}; journaled = 0; display(hello); }
      return agent;
    }).catch(function () { clearTimeout(timer); return null; });
  }
  function flushAgent() {
    if (agentBusy || status === 'submitted') return Promise.resolve();
    var batch = queue.filter(function (e) { return e.seq > journaled; }).slice(0, 50);
    if (!batch.length) return Promise.resolve();
    agentBusy = true;
    return agentFetch('/v1/events', {attempt_id: parseInt(attempt, 10), token: D.forwardToken, events: batch,
                                     meta: agentMeta}).then(function (resp) {
      return resp.json().then(function (body) {
        if (resp.ok) {
          journaled = Math.max(journaled, batch[batch.length - 1].seq);
          batch.forEach(function (e) { if (e.seq > serverSeq) mark(itemFor(e.question_id), 'local'); });
          confirmed((body.server || {})[writer] || 0, body.online);
        } else if (resp.status === 401) {          // the agent restarted: a new token
          agent = null; return findAgent();
        } else {                                   // refused or the PC's disk is full: say so
          batch.forEach(function (e) { mark(itemFor(e.question_id), 'error', T.error + ': ' + (body.message || resp.status)); });
          if (resp.status === 507) agent = null;   // the server may still take it directly
          else { var bad = {}; batch.forEach(function (e) { bad[e.seq] = true; });
                 queue = queue.filter(function (e) { return !bad[e.seq]; }); saveQueue(); }
        }
      });
    }).catch(function () { agent = null; })       // no agent any more: straight to the server
      .then(function () {
        agentBusy = false;
        if (!agent || queue.some(function (e) { return e.seq > journaled; })) flush();
      });
  }
  function confirmed(upto, online) {
    if (upto > serverSeq) serverSeq = upto;
    var before = queue.length;
    queue = queue.filter(function (e) { return e.seq > serverSeq; });
    if (queue.length !== before) saveQueue();
    items.forEach(function (item) {
      var q = item.dataset.question;
      if (item.querySelector('.save-state').dataset.state === 'local'
          && !queue.some(function (e) { return String(e.question_id) === q; })) mark(item, 'saved');
    });
    document.getElementById('kiosk-offline').hidden = online !== false;
  }
  function display(hello) {
    var d = hello.display || {}, seat = document.getElementById('kiosk-seat');
    seat.hidden = !d.show_seat || d.seat === null || d.seat === undefined;
    seat.textContent = fmt(T.seat, {n: d.seat});
    document.getElementById('kiosk-lock').hidden = !d.locked;
    document.getElementById('kiosk-lock-message').textContent = d.lock_message || '';
    document.getElementById('kiosk-offline').hidden = d.online !== false;
  }
  function pollAgent() {
    if (!agent) return;
    agentFetch('/v1/attempts/' + attempt).then(function (r) { return r.ok ? r.json() : null; }).then(function (st) {
      if (!st) return;
      confirmed((st.server || {})[writer] || 0, st.online);
      (st.errors || []).forEach(function (e) {
        if (e.writer !== writer) return;
        if (e.error === 'submitted' || e.error === 'deadline') location.href = D.doneUrl;
        if (e.error === 'locked') refresh();
      });
      return fetch(D.agentUrl + '/v1/hello').then(function (r) { return r.json(); }).then(display);
    }).catch(function () { agent = null; flush(); });
  }
  setInterval(pollAgent, 2000);
  // Before submitting, everything still queued goes straight to the server too (the agent's
  // copy of the same events is a harmless duplicate there).
  function drainDirect(rounds) {
    if (!queue.length) return Promise.resolve();
    if (rounds <= 0) return Promise.reject(new Error('answers still waiting'));
    return flushDirect().then(function () {
      if (queue.length && retryTimer) throw new Error('offline');
      return drainDirect(rounds - 1);
    });
  }

  // --- leaving the page locks it (C6) -------------------------------------------------
  function showLock() {
    status = 'locked';
    var o = document.getElementById('lock-overlay'); o.hidden = false;
    document.getElementById('unlock-code').focus();
  }
  function hideLock() { status = 'in_exam'; document.getElementById('lock-overlay').hidden = true; backoff = 1000; flush(); }
  function left(why) {
    if (status !== 'in_exam' || leaving || picking || unloading) return;
    leaving = true;
    post(D.lockUrl, {why: why}).then(function (r) { return r.json(); }).then(function (b) {
      leaving = false;
      if (b.status === 'submitted') { location.href = D.doneUrl; return; }
      if (b.status === 'locked') {
        document.getElementById('lock-count').textContent = fmt(T.locks, {n: b.lock_count, max: T.lock_limit});
        showLock();
      }
    }).catch(function () { leaving = false; showLock(); });
  }
  // A reload, a close or a navigation unloads the page, and the browser then reports it
  // hidden although the candidate went nowhere else: that is not leaving the exam (the page
  // comes back to the same attempt and answers). beforeunload and pagehide come before that
  // visibilitychange, so an unloading page never locks; pagehide tells the server with a
  // beacon (a "page_unload" line in the candidate log). A navigation that does not unload
  // after all (a download) stops counting as one at the candidate's next key or click.
  var unloading = false, unloadKey = 'eb-unloading-' + attempt;
  function unload(ev) {
    unloading = true;
    if (ev.type !== 'pagehide' || (status !== 'in_exam' && status !== 'locked')) return;
    session.setItem(unloadKey, '1');
    if (!navigator.sendBeacon) return;
    var data = new FormData(); data.append('csrf_token', D.csrf); data.append('why', 'pagehide');
    navigator.sendBeacon(D.unloadedUrl, data);
  }
  window.addEventListener('beforeunload', unload);
  window.addEventListener('pagehide', unload);
  ['keydown', 'pointerdown'].forEach(function (t) { window.addEventListener(t, function () { unloading = false; }, true); });
  window.addEventListener('pageshow', function (ev) { if (ev.persisted) unloading = false; });
  // Back after a reload: a page that comes back hidden (reloaded, then another window) has left.
  if (session.getItem(unloadKey)) {
    session.removeItem(unloadKey);
    if (document.visibilityState === 'hidden') left('hidden after reload');
  }
  document.addEventListener('visibilitychange', function () { if (document.hidden) left('visibilitychange'); });
  window.addEventListener('blur', function () { setTimeout(function () { if (!document.hasFocus()) left('blur'); }, 200); });
  document.addEventListener('fullscreenchange', function () { if (!document.fullscreenElement && root.dataset.fullscreen) left('fullscreen exit'); });
  document.getElementById('unlock-send').addEventListener('click', function () {
    var err = document.getElementById('unlock-error');
    post(D.unlockUrl, {code: document.getElementById('unlock-code').value}).then(function (r) {
      return r.json().then(function (b) {
        if (r.ok && b.status === 'in_exam') { err.hidden = true; hideLock(); }
        else { err.textContent = b.message || ''; err.hidden = false; }
      });
    });
  });
  setInterval(function () { if (status === 'locked') refresh(); }, 3000);  // the proctor may unlock from the console

  // --- submit (C7) ---------------------------------------------------------------------
  var dialog = document.getElementById('submit-dialog');
  document.getElementById('submit-open').addEventListener('click', function () {
    var missing = items.filter(function (i) { return !answered(i); }).map(function (i) { return i.dataset.number; });
    document.getElementById('unanswered-none').hidden = missing.length > 0;
    document.getElementById('unanswered-some').hidden = missing.length === 0;
    document.getElementById('unanswered-list').textContent = missing.join(', ');
    dialog.showModal ? dialog.showModal() : dialog.setAttribute('open', '');
  });
  document.getElementById('submit-cancel').addEventListener('click', function () { dialog.close(); });
  document.getElementById('submit-confirm').addEventListener('click', function () {
    var button = this; button.disabled = true;
    var keyName = 'eb-submit-' + attempt, key = store.getItem(keyName) || rand();
    store.setItem(keyName, key);
    var tries = 0, progress = document.getElementById('submit-progress');
    function attemptSubmit() {
      tries += 1; progress.textContent = fmt(T.submitting, {n: tries});
      var ready = drainDirect(20);
      return ready.then(function () { return post(D.submitUrl, {key: key}); }).then(function (r) {
        if (r.ok) { status = 'submitted'; location.href = D.doneUrl; return; }
        if (r.status >= 400 && r.status < 500 && r.status !== 408 && r.status !== 429) {
          return r.json().then(function (b) { progress.textContent = b.message || r.status; button.disabled = false; });
        }
        throw new Error(r.status);
      }).catch(function () { setTimeout(attemptSubmit, Math.min(1000 * Math.pow(2, tries), 15000)); });
    }
    attemptSubmit();
  });
})();
