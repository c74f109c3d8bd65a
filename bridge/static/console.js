// The proctor console's live board: the whole board arrives over /ws/console/<room> at once
// and after every change; a lost connection says so and reconnects (the first message then
// is the current board: nothing to replay).
(function () {
  "use strict";
  var root = document.getElementById("console");
  if (!root) return;
  var statusLabels = JSON.parse(root.dataset.statusLabels), flagLabels = JSON.parse(root.dataset.flagLabels);
  var stateLabels = JSON.parse(root.dataset.stateLabels);
  var live = document.getElementById("live-status");
  var url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host +
    "/ws/console/" + root.dataset.room + "?sitting=" + root.dataset.sitting;
  var delay = 500;

  function paintSeat(el, seat) {
    el.dataset.status = seat.status;
    el.dataset.flags = seat.flags.join(" ");
    el.className = "seat status-" + seat.status + (seat.flags.length ? " flagged" : "");
    el.querySelector(".st").textContent = statusLabels[seat.status] || seat.status;
    var fl = el.querySelector(".fl");
    if (fl) fl.textContent = seat.flags.map(function (f) { return flagLabels[f] || f; }).join(" · ");
  }

  function paint(board) {
    Object.keys(board.counts).forEach(function (k) {
      var el = document.getElementById("count-" + k);
      if (el) el.textContent = board.counts[k];
    });
    board.seats.forEach(function (seat) {
      var box = document.querySelector('#seat-grid .seat[data-seat="' + seat.seat + '"]');
      if (box) paintSeat(box, seat);
      var row = document.querySelector('#seat-list tr[data-seat="' + seat.seat + '"]');
      if (row) {
        row.querySelector(".st").textContent = statusLabels[seat.status] || seat.status;
        row.querySelector(".extra").textContent = seat.extra_seconds;
      }
    });
    var state = document.getElementById("sitting-state");
    if (state && state.dataset.state !== board.state) { state.dataset.state = board.state; state.textContent = stateLabels[board.state] || board.state; }
  }

  var current = null;
  // for the page's own diagnostics (and the tests): drop the connection as a network cut would
  window.examConsole = {drop: function () { if (current) current.close(); }};

  function connect() {
    var ws = current = new WebSocket(url);
    ws.onopen = function () { delay = 500; live.textContent = root.dataset.live; live.className = "ok"; };
    ws.onmessage = function (event) { paint(JSON.parse(event.data)); };
    ws.onclose = function () {
      live.textContent = root.dataset.lost; live.className = "bad";
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 8000);
    };
  }
  document.querySelectorAll("#seat-grid .seat").forEach(function (el) {
    paintSeat(el, {status: el.dataset.status, flags: el.dataset.flags ? el.dataset.flags.split(" ") : []});
  });
  var start = document.getElementById("room-start"), countdown = document.getElementById("countdown");
  setInterval(function () {
    var left = Math.round((Date.parse(start.dataset.at) - Date.now()) / 1000);
    countdown.textContent = left > 0 ? "(" + Math.floor(left / 60) + ":" + ("0" + left % 60).slice(-2) + ")" : "";
  }, 1000);
  var toggle = document.getElementById("toggle-view");
  toggle.addEventListener("click", function () {
    var list = document.getElementById("seat-list"), grid = document.getElementById("seat-grid");
    list.hidden = !list.hidden; grid.hidden = !list.hidden;
  });
  document.getElementById("select-all").addEventListener("change", function (e) {
    document.querySelectorAll('#seat-list input[name="user_id"]').forEach(function (c) { c.checked = e.target.checked; });
  });
  document.getElementById("find").addEventListener("input", function (e) {
    var q = e.target.value.trim().toLowerCase();
    document.querySelectorAll("#seat-grid .seat, #seat-list tbody tr").forEach(function (el) {
      el.hidden = q !== "" && el.textContent.toLowerCase().indexOf(q) < 0;
    });
  });
  connect();
})();
