// The G/M/P timeline: draws a recorded scheduler trace inside a book page.
//
// A page asks for one with
//
//     <div class="gmp-timeline" data-trace="data/lesson-02-trace.json"></div>
//
// (the path is relative to the page). The file is Chrome Trace Event JSON as
// the runtime writes it (`Trace::to_chrome_json`): "M" metadata events name
// the tracks (process 1 holds P0..Pn, process 2 the Ms), "X" events are bars
// (a G's run with args {g, reason, m}, an idle stretch, a syscall), "i"
// events are instants (steal, preempt, syscall enter/exit). Flow events are
// ignored; a steal is drawn as an arrow from its victim's row to its thief's.
//
// Everything is drawn as one SVG, redrawn from the visible window [t0, t1]
// whenever the view changes: the wheel zooms around the pointer, a drag
// pans, and the buttons zoom, pan and reset. Hovering a bar or marker shows
// what it was. No library and no network: the trace is fetched from the same
// server as the page. When the first drawing is done the div gets
// data-rendered="true" (the browser check looks for it); if the trace cannot
// be loaded, the div says why and gets data-rendered="error".
(function () {
  "use strict";

  var SVG_NS = "http://www.w3.org/2000/svg";
  var ROW_H = 26;
  var LABEL_W = 56;
  var AXIS_H = 22;
  var REASONS = ["yield", "preempt", "block", "chan", "sync", "io", "sleep", "join", "done", "running"];
  var REASON_TEXT = {
    yield: "yielded (back on a run queue)",
    preempt: "preempted (budget or sysmon)",
    block: "blocked (waiting for a waker)",
    chan: "parked on a channel send or receive",
    sync: "parked on a mutex, rwlock or wait group",
    io: "parked in the netpoller, waiting for a socket",
    sleep: "parked on a timer",
    join: "waiting for another G to finish (JoinHandle)",
    done: "finished",
    running: "still running when the trace ended",
  };

  function el(name, attrs, parent) {
    var node = document.createElementNS(SVG_NS, name);
    for (var k in attrs) node.setAttribute(k, attrs[k]);
    if (parent) parent.appendChild(node);
    return node;
  }

  function html(tag, cls, parent, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    if (parent) parent.appendChild(node);
    return node;
  }

  // Microseconds to a short human string.
  function fmtTime(us) {
    var a = Math.abs(us);
    if (a >= 1e6) return (us / 1e6).toFixed(3) + " s";
    if (a >= 1e3) return (us / 1e3).toFixed(a >= 1e4 ? 2 : 3) + " ms";
    if (a >= 1) return us.toFixed(a >= 100 ? 0 : 1) + " µs";
    return (us * 1e3).toFixed(0) + " ns";
  }

  // A tick step of 1, 2 or 5 times a power of ten giving about `n` ticks.
  function niceStep(span, n) {
    var raw = span / Math.max(1, n);
    var pow = Math.pow(10, Math.floor(Math.log10(raw)));
    var f = raw / pow;
    return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * pow;
  }

  // Turns the raw event list into rows, bars and markers.
  function model(doc) {
    var events = Array.isArray(doc) ? doc : doc && doc.traceEvents;
    if (!Array.isArray(events)) throw new Error("no traceEvents array in the file");
    var names = {};
    var rows = {};
    var bars = [];
    var marks = [];
    var key = function (e) { return e.pid + ":" + e.tid; };
    var touch = function (e) {
      var k = key(e);
      if (!rows[k]) rows[k] = { pid: Number(e.pid), tid: Number(e.tid), key: k };
      return rows[k];
    };
    events.forEach(function (e) {
      if (e.ph === "M" && e.name === "thread_name" && e.args) {
        names[key(e)] = String(e.args.name);
        touch(e);
      } else if (e.ph === "X" && typeof e.ts === "number") {
        touch(e);
        bars.push({
          row: key(e), name: String(e.name || ""), cat: e.cat || "",
          ts: e.ts, end: e.ts + (e.dur || 0), args: e.args || {},
        });
      } else if ((e.ph === "i" || e.ph === "I") && typeof e.ts === "number") {
        touch(e);
        marks.push({ row: key(e), name: String(e.name || ""), ts: e.ts, args: e.args || {} });
      }
    });
    var list = Object.keys(rows).map(function (k) {
      var r = rows[k];
      r.label = names[k] || (r.pid === 1 ? "P" : "M") + r.tid;
      return r;
    });
    // Ps first, then Ms; each by index. Drop M rows with nothing on them.
    list = list.filter(function (r) {
      return r.pid === 1 || bars.some(function (b) { return b.row === r.key; }) ||
        marks.some(function (m) { return m.row === r.key; });
    });
    list.sort(function (a, b) { return a.pid - b.pid || a.tid - b.tid; });
    var index = {};
    list.forEach(function (r, i) { index[r.key] = i; });
    var t0 = Infinity, t1 = -Infinity;
    bars.forEach(function (b) { t0 = Math.min(t0, b.ts); t1 = Math.max(t1, b.end); });
    marks.forEach(function (m) { t0 = Math.min(t0, m.ts); t1 = Math.max(t1, m.ts); });
    if (!isFinite(t0)) throw new Error("the trace has no events to draw");
    if (t1 <= t0) t1 = t0 + 1;
    var note = doc && doc.otherData && typeof doc.otherData.note === "string" ? doc.otherData.note : "";
    return { rows: list, index: index, bars: bars, marks: marks, t0: t0, t1: t1, note: note };
  }

  function barClass(b) {
    if (b.cat === "g" || b.args.g !== undefined && b.name.charAt(0) === "G") {
      var r = REASONS.indexOf(b.args.reason) >= 0 ? b.args.reason : "running";
      return "gmp-bar gmp-g gmp-" + r;
    }
    if (b.name === "idle") return "gmp-bar gmp-idle";
    if (b.name === "syscall") return "gmp-bar gmp-syscall";
    return "gmp-bar gmp-other";
  }

  function barTip(b) {
    if (b.args.g !== undefined && b.name.charAt(0) === "G") {
      var reason = b.args.reason || "running";
      return [
        "G" + b.args.g + (b.args.m !== undefined ? " on M" + b.args.m : ""),
        "start " + fmtTime(b.ts - this.t0) + ", stop " + fmtTime(b.end - this.t0),
        "ran " + fmtTime(b.end - b.ts),
        "stop reason: " + reason + " — " + (REASON_TEXT[reason] || reason),
      ].concat(b.args.wait_us === undefined ? [] : [
        "readied by " + (b.args.readied_by === null || b.args.readied_by === undefined
          ? "the runtime (a timer, the netpoller or a thread outside)" : "G" + b.args.readied_by) +
          ", " + b.args.wait_us + " µs before this run began",
      ]);
    }
    var lines = [b.name, fmtTime(b.ts - this.t0) + " → " + fmtTime(b.end - this.t0) +
      " (" + fmtTime(b.end - b.ts) + ")"];
    if (b.args.g !== undefined) lines.push("G" + b.args.g);
    return lines;
  }

  function markTip(m) {
    var a = m.args;
    var lines = [m.name + " at " + fmtTime(m.ts - this.t0)];
    if (m.name === "steal") lines.push("P" + a.to + " took " + a.count + " G(s) from P" + a.from);
    else if (a.g !== undefined) lines.push("G" + a.g);
    return lines;
  }

  function Timeline(div, data) {
    this.div = div;
    this.data = data;
    this.t0 = data.t0;
    this.view = [data.t0, data.t1];
    div.innerHTML = "";
    div.classList.add("gmp-ready");
    // A trace can say what it is (e.g. that it is not a real recording).
    if (data.note) html("div", "gmp-note", div, data.note);
    this.controls(html("div", "gmp-toolbar", div));
    this.box = html("div", "gmp-box", div);
    this.tip = html("div", "gmp-tip", this.box);
    this.tip.hidden = true;
    this.legend(html("div", "gmp-legend", div));
    this.height = AXIS_H + data.rows.length * ROW_H + 6;
    this.svg = el("svg", {
      class: "gmp-svg", height: this.height, role: "img",
      "aria-label": "Per-P timeline of G runs",
    }, this.box);
    this.interact();
    var self = this;
    // Redraw when the page's width changes, and only then: redrawing can
    // change the box's height, which must not trigger another round.
    this.drawnWidth = 0;
    if (window.ResizeObserver) {
      new ResizeObserver(function () {
        if (self.width() !== self.drawnWidth) self.draw();
      }).observe(this.box);
    }
    this.draw();
  }

  Timeline.prototype.controls = function (bar) {
    var self = this;
    var button = function (label, title, fn) {
      var b = html("button", "gmp-btn", bar, label);
      b.type = "button";
      b.title = title;
      b.addEventListener("click", fn);
    };
    button("+", "Zoom in", function () { self.zoom(0.5, 0.5); });
    button("−", "Zoom out", function () { self.zoom(2, 0.5); });
    button("←", "Pan left", function () { self.pan(-0.25); });
    button("→", "Pan right", function () { self.pan(0.25); });
    button("Reset", "Show the whole trace", function () {
      self.view = [self.data.t0, self.data.t1];
      self.draw();
    });
    this.range = html("span", "gmp-range", bar);
    html("span", "gmp-help", bar, "wheel to zoom, drag to pan, hover for details");
  };

  Timeline.prototype.legend = function (box) {
    var item = function (cls, text) {
      var it = html("span", "gmp-legend-item", box);
      var sw = el("svg", { width: 14, height: 12 }, it);
      el("rect", { x: 0, y: 1, width: 14, height: 10, class: cls }, sw);
      html("span", "", it, text);
    };
    // Only the stop reasons this trace has, in the usual order.
    var seen = {};
    this.data.bars.forEach(function (b) { if (b.args.reason) seen[b.args.reason] = true; });
    REASONS.forEach(function (r) {
      if (seen[r] || r === "block" || r === "done") item("gmp-bar gmp-g gmp-" + r, "G " + (r === "running" ? "still running" : "→ " + r));
    });
    item("gmp-bar gmp-idle", "P idle");
    item("gmp-bar gmp-syscall", "M in syscall");
    var it = html("span", "gmp-legend-item", box);
    var sw = el("svg", { width: 14, height: 12 }, it);
    el("path", { d: "M7 1 L13 11 L1 11 Z", class: "gmp-mark gmp-mark-steal" }, sw);
    html("span", "", it, "steal (arrow: victim → thief)");
    it = html("span", "gmp-legend-item", box);
    sw = el("svg", { width: 14, height: 12 }, it);
    el("path", { d: "M7 1 L13 6 L7 11 L1 6 Z", class: "gmp-mark gmp-mark-preempt" }, sw);
    html("span", "", it, "preempt");
  };

  Timeline.prototype.width = function () {
    return Math.max(200, this.box.clientWidth || 600);
  };

  // Zooms by `factor` (below 1 zooms in) keeping the point at fraction `at` fixed.
  Timeline.prototype.zoom = function (factor, at) {
    var v = this.view, span = v[1] - v[0];
    var full = this.data.t1 - this.data.t0;
    var next = Math.min(full, Math.max(span * factor, full / 1e6, 0.001));
    var pivot = v[0] + span * at;
    this.view = this.clamp([pivot - next * at, pivot - next * at + next]);
    this.draw();
  };

  Timeline.prototype.pan = function (fraction) {
    var span = this.view[1] - this.view[0];
    this.view = this.clamp([this.view[0] + span * fraction, this.view[1] + span * fraction]);
    this.draw();
  };

  Timeline.prototype.clamp = function (v) {
    var span = v[1] - v[0];
    if (v[0] < this.data.t0) v = [this.data.t0, this.data.t0 + span];
    if (v[1] > this.data.t1) v = [this.data.t1 - span, this.data.t1];
    return [Math.max(v[0], this.data.t0), Math.min(v[1], this.data.t1)];
  };

  Timeline.prototype.interact = function () {
    var self = this;
    this.svg.addEventListener("wheel", function (ev) {
      ev.preventDefault();
      var rect = self.svg.getBoundingClientRect();
      var at = (ev.clientX - rect.left - LABEL_W) / Math.max(1, rect.width - LABEL_W);
      self.zoom(ev.deltaY < 0 ? 0.8 : 1.25, Math.min(1, Math.max(0, at)));
    }, { passive: false });
    var drag = null;
    this.svg.addEventListener("pointerdown", function (ev) {
      drag = { x: ev.clientX, view: self.view.slice() };
      self.svg.setPointerCapture(ev.pointerId);
      self.svg.classList.add("gmp-dragging");
    });
    this.svg.addEventListener("pointermove", function (ev) {
      if (drag) {
        var plot = self.width() - LABEL_W;
        var dt = (ev.clientX - drag.x) / plot * (drag.view[1] - drag.view[0]);
        self.view = self.clamp([drag.view[0] - dt, drag.view[1] - dt]);
        self.draw();
        return;
      }
      var target = ev.target;
      var lines = target && target.__gmpTip;
      if (!lines) { self.tip.hidden = true; return; }
      self.tip.innerHTML = "";
      lines.forEach(function (l, i) { html("div", i === 0 ? "gmp-tip-head" : "", self.tip, l); });
      self.tip.hidden = false;
      var box = self.box.getBoundingClientRect();
      var x = ev.clientX - box.left + 12, y = ev.clientY - box.top + 12;
      if (x + self.tip.offsetWidth > box.width) x = Math.max(0, x - self.tip.offsetWidth - 24);
      self.tip.style.left = x + "px";
      self.tip.style.top = y + "px";
    });
    var end = function () { drag = null; self.svg.classList.remove("gmp-dragging"); };
    this.svg.addEventListener("pointerup", end);
    this.svg.addEventListener("pointercancel", end);
    this.svg.addEventListener("pointerleave", function () { self.tip.hidden = true; });
  };

  Timeline.prototype.draw = function () {
    var d = this.data, svg = this.svg, self = this;
    var w = this.width();
    this.drawnWidth = w;
    var plot = w - LABEL_W;
    var v0 = this.view[0], v1 = this.view[1];
    var scale = plot / (v1 - v0);
    var x = function (t) { return LABEL_W + (t - v0) * scale; };
    svg.setAttribute("width", w);
    svg.setAttribute("viewBox", "0 0 " + w + " " + this.height);
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    el("defs", {}, svg).innerHTML =
      '<clipPath id="' + this.clipId() + '"><rect x="' + LABEL_W + '" y="0" width="' + plot +
      '" height="' + this.height + '"/></clipPath>' +
      '<marker id="' + this.clipId() + '-arrow" viewBox="0 0 8 8" refX="7" refY="4" markerWidth="7" ' +
      'markerHeight="7" orient="auto-start-reverse"><path d="M0 0 L8 4 L0 8 Z" class="gmp-arrowhead"/></marker>';

    // Axis with ticks relative to the start of the trace.
    var step = niceStep(v1 - v0, Math.max(2, Math.floor(plot / 110)));
    var axis = el("g", { class: "gmp-axis" }, svg);
    var first = Math.ceil((v0 - d.t0) / step);
    for (var k = first; k <= first + 200; k++) {
      var t = d.t0 + k * step;
      if (t > v1) break;
      var tx = x(t);
      el("line", { x1: tx, x2: tx, y1: AXIS_H - 5, y2: this.height, class: "gmp-grid" }, axis);
      el("text", { x: tx + 3, y: AXIS_H - 8, class: "gmp-tick" }, axis).textContent = fmtTime(t - d.t0);
    }
    // Row labels and bands.
    d.rows.forEach(function (r, i) {
      var y = AXIS_H + i * ROW_H;
      el("rect", { x: 0, y: y, width: w, height: ROW_H, class: i % 2 ? "gmp-band gmp-odd" : "gmp-band" }, svg);
      el("text", { x: 6, y: y + ROW_H / 2 + 4, class: "gmp-label" }, svg).textContent = r.label;
    });
    var body = el("g", { "clip-path": "url(#" + this.clipId() + ")" }, svg);
    d.bars.forEach(function (b) {
      if (b.end < v0 || b.ts > v1) return;
      var row = d.index[b.row];
      if (row === undefined) return;
      var thin = b.name === "idle";
      var y = AXIS_H + row * ROW_H + (thin ? ROW_H / 2 - 2 : 4);
      var x0 = Math.max(x(b.ts), LABEL_W - 2), x1 = Math.min(x(b.end), w + 2);
      var rect = el("rect", {
        x: x0, y: y, width: Math.max(1, x1 - x0), height: thin ? 4 : ROW_H - 8,
        class: barClass(b),
      }, body);
      rect.__gmpTip = barTip.call(self, b);
      if (!thin && x1 - x0 > 34) {
        var label = el("text", { x: x0 + 4, y: y + ROW_H / 2 + 0, class: "gmp-bar-label" }, body);
        label.textContent = b.name;
        label.__gmpTip = rect.__gmpTip;
      }
    });
    d.marks.forEach(function (m) {
      if (m.ts < v0 || m.ts > v1) return;
      var row = d.index[m.row];
      if (row === undefined) return;
      var mx = x(m.ts), y = AXIS_H + row * ROW_H;
      var shape;
      if (m.name === "steal") {
        var from = d.index["1:" + m.args.from];
        if (from !== undefined && from !== row) {
          var fy = AXIS_H + from * ROW_H + ROW_H / 2, ty = y + ROW_H / 2;
          el("line", {
            x1: mx, y1: fy, x2: mx, y2: ty + (ty > fy ? -5 : 5), class: "gmp-steal-arrow",
            "marker-end": "url(#" + self.clipId() + "-arrow)",
          }, body);
        }
        shape = el("path", { d: "M" + mx + " " + (y + 1) + " l6 10 l-12 0 Z", class: "gmp-mark gmp-mark-steal" }, body);
      } else if (m.name === "preempt") {
        shape = el("path", {
          d: "M" + mx + " " + (y + ROW_H - 12) + " l5 5 l-5 5 l-5 -5 Z", class: "gmp-mark gmp-mark-preempt",
        }, body);
      } else {
        shape = el("line", { x1: mx, x2: mx, y1: y + 2, y2: y + ROW_H - 2, class: "gmp-mark gmp-mark-other" }, body);
        shape = el("rect", { x: mx - 3, y: y, width: 6, height: ROW_H, class: "gmp-hit" }, body);
      }
      shape.__gmpTip = markTip.call(self, m);
    });
    this.range.textContent = fmtTime(v0 - d.t0) + " – " + fmtTime(v1 - d.t0) +
      " of " + fmtTime(d.t1 - d.t0);
    if (this.div.getAttribute("data-rendered") !== "true") this.div.setAttribute("data-rendered", "true");
  };

  var counter = 0;
  Timeline.prototype.clipId = function () {
    if (!this.id) this.id = "gmp-clip-" + (++counter);
    return this.id;
  };

  function start(div) {
    var src = div.getAttribute("data-trace");
    if (!src) {
      div.textContent = "gmp-timeline: the div needs a data-trace attribute naming a trace JSON file.";
      div.setAttribute("data-rendered", "error");
      return;
    }
    div.textContent = "Loading the trace " + src + " …";
    fetch(src, { cache: "no-cache" })
      .then(function (r) {
        if (!r.ok) throw new Error("HTTP " + r.status + " for " + src);
        return r.json();
      })
      .then(function (doc) { new Timeline(div, model(doc)); })
      .catch(function (err) {
        div.textContent = "Could not draw the timeline from " + src + ": " + err.message;
        div.classList.add("gmp-error");
        div.setAttribute("data-rendered", "error");
      });
  }

  function init() {
    var divs = document.querySelectorAll("div.gmp-timeline[data-trace]");
    for (var i = 0; i < divs.length; i++) start(divs[i]);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
