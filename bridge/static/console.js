// The live board, one script for the room console (/console/<sitting>) and the exam's proctor
// page (/exam/<id>/proctor, a board per session): each element with data-board-socket opens
// that WebSocket path on this host (a room's /ws/console/<room>?sitting=<id>, a session's /ws/proctor/<session>);
// the whole board arrives at once and after every change. A lost connection says so and
// reconnects (the first message then is the current board: nothing to replay).
// A board paints inside its closest [data-board-scope] (the proctor page's sections), else the
// whole page (the console: one board). Rows are found by data-user; labels come from the
// closest element that carries them, so one page can hold several boards.
(function () {
  "use strict";
  var roots = document.querySelectorAll("[data-board-socket]");
  if (!roots.length) return;
  var boards = [];
  // for the page's own diagnostics (and the tests): drop the connections as a network cut would
  window.examConsole = {drop: function () { boards.forEach(function (b) { if (b.ws) b.ws.close(); }); }};

  function json(root, name) {
    var holder = root.closest("[data-" + name + "]");
    return holder ? JSON.parse(holder.getAttribute("data-" + name)) : {};
  }
  function text(root, name) {
    var holder = root.closest("[data-" + name + "]");
    return holder ? holder.getAttribute("data-" + name) : "";
  }
  function pad(n) { return ("0" + n).slice(-2); }
  function timeLeft(s) {
    if (s === null || s === undefined) return "";
    var h = Math.floor(s / 3600), m = Math.floor(s % 3600 / 60);
    return (h ? h + ":" + pad(m) : m) + ":" + pad(s % 60);
  }

  function Board(root) {
    this.root = root;
    this.scope = root.closest("[data-board-scope]") || document;
    this.status = json(root, "status-labels");
    this.flags = json(root, "flag-labels");
    this.states = json(root, "state-labels");
    this.why = json(root, "why-labels");
    this.agoS = text(root, "ago-seconds");
    this.agoMin = text(root, "ago-minutes");
    this.live = root.querySelector(".live-status");
    this.url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + root.dataset.boardSocket;
    this.delay = 500;
  }

  Board.prototype.set = function (el, selector, value) {
    var target = el.querySelector(selector);
    if (target && target.textContent !== String(value)) target.textContent = value;
  };

  Board.prototype.ago = function (s) {
    if (s === null || s === undefined) return "—";
    return s < 90 ? this.agoS.replace("{n}", s) : this.agoMin.replace("{n}", Math.floor(s / 60));
  };

  Board.prototype.paintSeat = function (el, seat) {
    var self = this, flags = seat.flags || [];
    el.dataset.status = seat.status;
    el.dataset.flags = flags.join(" ");
    if (el.classList.contains("seat")) el.className = "seat status-" + seat.status + (flags.length ? " flagged" : "");
    var st = el.querySelector(".st");
    if (st) {
      st.textContent = this.status[seat.status] || seat.status;
      if (st.classList.contains("badge")) st.className = "st badge status-" + seat.status;
    }
    this.set(el, ".fl", flags.map(function (f) { return self.flags[f] || f; }).join(" · "));
    if (seat.extra_seconds !== undefined) this.set(el, ".extra", seat.extra_seconds);
    if (seat.locks === undefined) return;  // the page's first paint of a seat box: the status only
    this.set(el, ".locks", seat.locks);
    this.set(el, ".why", seat.lock_reason ? (this.why[seat.lock_reason] || seat.lock_reason) : "");
    this.set(el, ".left", timeLeft(seat.remaining_s));
    this.set(el, ".progress", seat.total === null ? (seat.attempt_id ? String(seat.answered) : "—")
                                                  : seat.answered + " / " + seat.total);
    this.set(el, ".contact", this.ago(seat.last_contact_s));
    if (el.hasAttribute("data-attempt")) {
      el.dataset.attempt = seat.attempt_id || "";
      el.querySelectorAll("[data-show-if]").forEach(function (x) { x.hidden = x.dataset.showIf !== seat.status; });
      el.querySelectorAll("form[data-action-template]").forEach(function (f) {
        if (seat.attempt_id) f.action = f.dataset.actionTemplate.replace("/0/", "/" + seat.attempt_id + "/");
      });
    }
  };

  Board.prototype.paint = function (board) {
    var self = this, scope = this.scope;
    Object.keys(board.counts).forEach(function (k) {
      scope.querySelectorAll('[data-count="' + k + '"]').forEach(function (el) {
        if (el.textContent !== String(board.counts[k])) el.textContent = board.counts[k];
      });
    });
    board.seats.forEach(function (seat) {
      scope.querySelectorAll('[data-user="' + seat.user_id + '"]').forEach(function (el) { self.paintSeat(el, seat); });
    });
    var state = scope.querySelector(".board-state");
    if (state && state.dataset.state !== board.state) {
      state.dataset.state = board.state;
      state.textContent = this.states[board.state] || board.state;
    }
  };

  Board.prototype.connect = function () {
    var self = this, ws = this.ws = new WebSocket(this.url);
    ws.onopen = function () {
      self.delay = 500;
      if (self.live) { self.live.textContent = text(self.root, "live"); self.live.classList.remove("bad"); self.live.classList.add("ok"); }
    };
    ws.onmessage = function (event) { self.paint(JSON.parse(event.data)); };
    ws.onclose = function () {
      if (self.live) { self.live.textContent = text(self.root, "lost"); self.live.classList.remove("ok"); self.live.classList.add("bad"); }
      setTimeout(function () { self.connect(); }, self.delay);
      self.delay = Math.min(self.delay * 2, 8000);
    };
  };

  document.querySelectorAll("#seat-grid .seat").forEach(function (el) {
    new Board(roots[0]).paintSeat(el, {status: el.dataset.status, flags: el.dataset.flags ? el.dataset.flags.split(" ") : []});
  });

  // the room console's own controls (absent on the proctor page)
  var start = document.getElementById("room-start"), countdown = document.getElementById("countdown");
  if (start && countdown) {
    setInterval(function () {
      var left = Math.round((Date.parse(start.dataset.at) - Date.now()) / 1000);
      countdown.textContent = left > 0 ? "(" + Math.floor(left / 60) + ":" + pad(left % 60) + ")" : "";
    }, 1000);
  }
  var toggle = document.getElementById("toggle-view");
  if (toggle) {
    toggle.addEventListener("click", function () {
      var list = document.getElementById("seat-list"), grid = document.getElementById("seat-grid");
      list.hidden = !list.hidden; grid.hidden = !list.hidden;
    });
  }
  var all = document.getElementById("select-all");
  if (all) {
    all.addEventListener("change", function (e) {
      document.querySelectorAll('#seat-list input[name="user_id"]').forEach(function (c) { c.checked = e.target.checked; });
    });
  }
  document.querySelectorAll("#find, .board-find").forEach(function (find) {
    find.addEventListener("input", function (e) {
      var q = e.target.value.trim().toLowerCase();
      var scope = e.target.closest("[data-board-scope]") || document;
      scope.querySelectorAll("#seat-grid .seat, #seat-list tbody tr, .board-table tbody tr").forEach(function (el) {
        el.hidden = q !== "" && el.textContent.toLowerCase().indexOf(q) < 0;
      });
    });
  });

  roots.forEach(function (root) { var b = new Board(root); boards.push(b); b.connect(); });
})();
