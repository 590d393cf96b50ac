/**
 * The dashboard's script (GET /dashboard.js): plain browser JS, no framework. It draws the four
 * statecharts once from /machines.json and then applies each frame from the /events stream.
 * Data goes into the page as text nodes only, never as markup.
 */
export const PAGE_JS = String.raw`'use strict';
(function () {
  var $ = function (id) { return document.getElementById(id); };
  var charts = {};

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function setText(id, text) { var e = $(id); if (e) e.textContent = text; }
  function fmt(n, digits) {
    if (typeof n !== 'number' || !isFinite(n)) return '–';
    return n.toLocaleString('en-US', { maximumFractionDigits: digits === undefined ? 0 : digits, minimumFractionDigits: digits === undefined ? 0 : digits });
  }
  function bytes(n) {
    if (n >= 1048576) return fmt(n / 1048576, 1) + ' MiB';
    if (n >= 1024) return fmt(n / 1024, 1) + ' KiB';
    return fmt(n) + ' B';
  }
  function ago(t, now) {
    var s = Math.max(0, Math.round((now - t) / 1000));
    return s < 90 ? s + ' s ago' : Math.round(s / 60) + ' min ago';
  }

  // ---- statecharts: nested boxes, one per state, with its outgoing transitions ----
  function drawState(node, boxes) {
    var box = el('div', 'state' + (node.type === 'final' ? ' final' : ''));
    box.dataset.path = node.path;
    var name = el('div', 'name', node.key);
    if (node.initial) name.appendChild(el('span', 'initial', ' ▸ ' + node.initial.split('.').pop()));
    box.appendChild(name);
    if (node.transitions.length) {
      var ul = el('ul');
      node.transitions.forEach(function (t) {
        var to = t.targets.length ? t.targets.map(function (p) { return p === '' ? '(root)' : p; }).join(', ') : '(stays)';
        ul.appendChild(el('li', '', t.event + (t.guard ? ' [' + t.guard + ']' : '') + ' → ' + to));
      });
      box.appendChild(ul);
    }
    if (node.states.length) {
      var kids = el('div', 'children');
      node.states.forEach(function (s) { kids.appendChild(drawState(s, boxes)); });
      box.appendChild(kids);
    }
    boxes[node.path] = box;
    return box;
  }

  function drawCharts(models) {
    var host = $('charts');
    ['supervisor', 'reader', 'batcher', 'committer'].forEach(function (name) {
      var model = models[name];
      if (!model) return;
      var sec = el('section', 'card machine');
      sec.dataset.machine = name;
      var h = el('h3', '', name);
      var cur = el('span', 'current off', 'not started');
      cur.dataset.current = '';
      h.appendChild(cur);
      sec.appendChild(h);
      var boxes = {};
      model.states.forEach(function (s) { sec.appendChild(drawState(s, boxes)); });
      host.appendChild(sec);
      charts[name] = { current: cur, boxes: boxes };
    });
  }

  // {active: {running: 'healthy'}} → ['active', 'active.running', 'active.running.healthy']
  function activePaths(value, prefix, out) {
    if (typeof value === 'string') { out.push(prefix + value); return out; }
    if (value && typeof value === 'object') {
      Object.keys(value).forEach(function (k) { out.push(prefix + k); activePaths(value[k], prefix + k + '.', out); });
    }
    return out;
  }

  function lightCharts(machines) {
    Object.keys(charts).forEach(function (name) {
      var c = charts[name], m = machines[name];
      var paths = m && m.value !== null ? activePaths(m.value, '', []) : [];
      var leaf = paths.length ? paths[paths.length - 1] : '';
      var retrying = /(^|\.)(backoff|startBackoff|degraded)$/.test(leaf) || paths.indexOf('active.running.degraded') >= 0;
      Object.keys(c.boxes).forEach(function (p) {
        var lit = paths.indexOf(p) >= 0;
        c.boxes[p].classList.toggle('lit', lit);
        c.boxes[p].classList.toggle('retrying', lit && retrying);
      });
      var off = !m || m.status === 'absent' || m.status === 'stopped';
      c.current.textContent = off ? (m && m.status === 'stopped' ? 'stopped (' + leaf + ')' : 'not started') : leaf;
      c.current.className = 'current' + (off ? ' off' : retrying ? ' retrying' : '');
      c.current.dataset.current = leaf;
    });
  }

  // ---- numbers ----
  function sparkline(samples) {
    var svg = $('lag-spark');
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    if (samples.length < 2) return 0;
    var t0 = samples[0][0], t1 = samples[samples.length - 1][0];
    var max = Math.max.apply(null, samples.map(function (s) { return s[1]; }).concat([1]));
    var pts = samples.map(function (s) {
      var x = (s[0] - t0) / Math.max(1, t1 - t0) * 300;
      var y = 58 - s[1] / max * 56;
      return x.toFixed(1) + ',' + y.toFixed(1);
    }).join(' ');
    var line = document.createElementNS('http://www.w3.org/2000/svg', 'polyline');
    line.setAttribute('points', pts);
    svg.appendChild(line);
    return Math.max.apply(null, samples.map(function (s) { return s[1]; }));
  }

  function rows(tbodyId, list, cells, rowClass) {
    var tb = $(tbodyId);
    while (tb.firstChild) tb.removeChild(tb.firstChild);
    list.forEach(function (item) {
      var tr = el('tr', rowClass ? rowClass(item) : '');
      cells(item).forEach(function (c) { tr.appendChild(el('td', '', c)); });
      tb.appendChild(tr);
    });
  }

  var OPS = { c: 'insert', u: 'update', d: 'delete', r: 'read' };

  function apply(f) {
    setText('pipeline', 'pipeline ' + f.pipeline);
    lightCharts(f.machines);
    setText('lag-now', fmt(f.lag.seconds, 1));
    setText('lag-max', fmt(sparkline(f.lag.samples), 1));
    setText('last-commit', f.lag.lastCommitAt === null ? 'no commit yet' : ago(f.lag.lastCommitAt, f.at));
    var total = f.rates.reduce(function (n, r) { return n + r.perSecond; }, 0);
    setText('rate-total', fmt(total, 1));
    setText('rows-total', fmt(f.rowsTotal));
    rows('rates', f.rates, function (r) { return [r.table, OPS[r.op] || r.op, fmt(r.perSecond, 1), fmt(r.total)]; });
    setText('queue', fmt(f.committerQueue) + ' batches');
    setText('inflight', bytes(f.inFlightBytes));
    var reader = f.machines.reader;
    setText('throttled', reader.status !== 'active' ? 'not running' : f.readerThrottled ? 'paused (backpressure)' : 'reading');
    setText('dead-run', fmt(f.deadLettersThisRun));
    var s = f.store;
    setText('staged', s ? fmt(s.stagedPending) + ' batches' : '–');
    setText('dead-unreplayed', s ? fmt(s.deadLettersUnreplayed) : '–');
    if (s && s.lease) {
      var mine = s.lease.owner === f.owner;
      setText('lease-owner', s.lease.owner + (mine ? ' (this instance)' : ''));
      // Judged when it was read (the page's clock and the read may be seconds apart).
      var held = s.lease.expiresAt > s.readAt;
      setText('lease-detail', 'term ' + s.lease.term + (held ? ', held' : ', expired') + ' when read ' + ago(s.readAt, f.at));
    } else {
      setText('lease-owner', s ? 'nobody' : '–');
      setText('lease-detail', '');
    }
    setText('store-age', f.storeError ? 'failing: ' + f.storeError + (s ? ' (showing values from ' + ago(s.readAt, f.at) + ')' : '') : s ? ago(s.readAt, f.at) : 'not yet');
    rows('errors', f.errors, function (e) {
      return [e.machine, e.code, e.errorClass, String(e.retries), ago(e.lastAt, f.at) + (e.recoveredAt ? ', recovered' : ', retrying'), e.message];
    }, function (e) { return e.recoveredAt ? '' : 'open'; });
    if (!f.errors.length) rows('errors', [0], function () { return ['none', '', '', '', '', '']; });
    var snap = f.snapshot;
    $('snapshot').hidden = !snap.running;
    if (snap.running) {
      // The pace is measured over 5 s intervals: until the first one ends there is none.
      setText('snapshot-pace', snap.rowsPerSecond > 0 ? fmt(snap.rowsPerSecond) + ' rows/s, about ' + fmt(snap.etaSeconds) + ' s left' : 'measuring the pace…');
      rows('snapshot-tables', snap.tables, function (t) {
        return [t.table, fmt(t.rows), fmt(t.estimated), t.estimated > 0 ? fmt(Math.min(100, t.rows / t.estimated * 100)) + ' %' : ''];
      });
    }
  }

  // ---- the live stream: says plainly when it is gone ----
  function connect() {
    var conn = $('conn');
    var es = new EventSource('/events');
    es.onopen = function () {
      conn.dataset.state = 'live';
      conn.textContent = 'live';
      document.body.classList.remove('stale');
    };
    es.onmessage = function (m) { apply(JSON.parse(m.data)); };
    es.onerror = function () {
      conn.dataset.state = 'down';
      conn.textContent = 'disconnected: sdl is not answering (stopped?) — retrying; values below are stale';
      document.body.classList.add('stale');
    };
  }

  fetch('/machines.json').then(function (r) { return r.json(); }).then(function (models) {
    drawCharts(models);
    connect();
  }, function () {
    var conn = $('conn');
    conn.dataset.state = 'down';
    conn.textContent = 'disconnected: cannot load the statecharts from sdl';
  });
})();
`;
