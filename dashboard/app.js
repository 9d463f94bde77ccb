// The tradehost dashboard: a single page over the daemon's JSON API, kept live by its event
// stream. Plain JavaScript with no build step; charts by the vendored uPlot (global `uPlot`).
//
// Every value shown comes from scripts, brokers or operators, so nothing is ever inserted as
// HTML: elements are built with `h()`, which sets text through text nodes.
"use strict";

(() => {
  const KEY_STORAGE = "tradehost.key";
  const OPERATOR_STORAGE = "tradehost.operator";
  const PAGES = ["portfolio", "pairs", "runs", "deployments", "risk", "scripts", "trades"];
  const EVENT_KINDS = "run,order,fill,signal,decision,risk,script";
  // Which pages an event kind makes stale.
  const AFFECTS = {
    run: ["runs", "deployments", "portfolio"],
    order: ["portfolio", "trades", "risk"],
    fill: ["portfolio", "trades", "pairs", "risk"],
    signal: ["pairs", "trades"],
    decision: ["risk"],
    risk: ["risk", "portfolio"],
    script: ["scripts"],
  };
  // A burst of events is gathered for this long before a refresh...
  const DEBOUNCE_MS = 300;
  // ...and a page refreshes at most this often, whatever the event rate; the pages that fetch
  // whole curves wait longer.
  const MIN_REFRESH_GAP_MS = { portfolio: 5000, pairs: 3000, trades: 2000 };
  const DEFAULT_REFRESH_GAP_MS = 1000;
  // Prices move without events (no event per bar), so the open page is also refreshed slowly.
  const FALLBACK_REFRESH_MS = 30000;
  const CLOCK_REFRESH_MS = 5000;

  const COLORS = {
    text: "#c9d1d9",
    muted: "#8b949e",
    grid: "#232a35",
    axis: "#3a4350",
    blue: "#58a6ff",
    green: "#3fb950",
    red: "#f85149",
    amber: "#d29922",
    purple: "#bc8cff",
  };

  // ---------------------------------------------------------------- DOM helpers

  /** An element with attributes and children; strings become text nodes, never HTML. */
  function h(tag, attributes, ...children) {
    const element = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "class") element.className = value;
      else if (name === "dataset") Object.assign(element.dataset, value);
      else if (name.startsWith("on") && typeof value === "function") {
        element.addEventListener(name.slice(2), value);
      } else if (name === "style" && typeof value === "object") Object.assign(element.style, value);
      else element.setAttribute(name, value === true ? "" : String(value));
    }
    append(element, children);
    return element;
  }

  function append(element, children) {
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      element.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
  }

  const $ = (selector, root = document) => root.querySelector(selector);

  function pageElement(name) {
    return document.querySelector(`section.page[data-page="${name}"]`);
  }

  // ---------------------------------------------------------------- formatting

  /** A decimal string with thousands separators, digits kept exactly as given. */
  function money(value) {
    if (value === null || value === undefined || value === "") return "—";
    if (typeof value === "number") return groupNumber(value, 2);
    const text = String(value).trim();
    const match = /^([+-]?)(\d+)(\.\d+)?$/.exec(text);
    if (!match) return text;
    const [, sign, whole, fraction] = match;
    return `${sign === "-" ? "−" : sign}${whole.replace(/\B(?=(\d{3})+(?!\d))/g, ",")}${fraction || ""}`;
  }

  /** A float (analytics values are f64) rounded for display, with separators. */
  function groupNumber(value, digits) {
    if (value === null || value === undefined || Number.isNaN(value)) return "—";
    return Number(value).toLocaleString("en-US", {
      minimumFractionDigits: digits,
      maximumFractionDigits: digits,
    }).replace(/^-/, "−");
  }

  function percent(value, digits = 2) {
    if (value === null || value === undefined || Number.isNaN(value)) return "—";
    return `${groupNumber(value * 100, digits)}%`;
  }

  /** The sign of a decimal string or number: -1, 0 or 1. */
  function signOf(value) {
    if (value === null || value === undefined) return 0;
    if (typeof value === "number") return Math.sign(value);
    const text = String(value).trim();
    if (/^-/.test(text)) return /[1-9]/.test(text) ? -1 : 0;
    return /[1-9]/.test(text) ? 1 : 0;
  }

  /** Exact sum of decimal strings (BigInt on a common scale), so money is never rounded. */
  function sumDecimals(values) {
    const parsed = values
      .map((value) => /^([+-]?)(\d+)(?:\.(\d+))?$/.exec(String(value ?? "").trim()))
      .filter(Boolean);
    if (parsed.length === 0) return null;
    const scale = Math.max(...parsed.map((m) => (m[3] || "").length));
    let total = 0n;
    for (const [, sign, whole, fraction = ""] of parsed) {
      const digits = BigInt(whole + fraction.padEnd(scale, "0"));
      total += sign === "-" ? -digits : digits;
    }
    const negative = total < 0n;
    let digits = (negative ? -total : total).toString().padStart(scale + 1, "0");
    const result = scale > 0
      ? `${digits.slice(0, digits.length - scale)}.${digits.slice(digits.length - scale)}`
      : digits;
    return negative ? `-${result}` : result;
  }

  function pnlClass(value) {
    const sign = signOf(value);
    return sign > 0 ? "pos" : sign < 0 ? "neg" : "";
  }

  /** UTC "YYYY-MM-DD HH:MM:SS" (the host clock may be simulated, so never "5 minutes ago"). */
  function time(value) {
    if (!value) return "—";
    const date = new Date(value);
    if (Number.isNaN(date.getTime())) return String(value);
    return date.toISOString().replace("T", " ").slice(0, 19);
  }

  /** A table cell's time: month, day and clock (the year is in the tooltip). */
  function timeCell(value) {
    return h("span", { class: "time", title: value || "" }, value ? time(value).slice(5) : "—");
  }

  function duration(milliseconds) {
    if (milliseconds === null || milliseconds === undefined || Number.isNaN(milliseconds)) return "—";
    if (milliseconds < 1000) return `${Math.round(milliseconds)} ms`;
    const seconds = milliseconds / 1000;
    if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 2 : 1)} s`;
    const parts = (large, largeUnit, small, smallUnit) =>
      (small ? `${large} ${largeUnit} ${small} ${smallUnit}` : `${large} ${largeUnit}`);
    const minutes = Math.floor(seconds / 60);
    if (minutes < 60) return parts(minutes, "m", Math.round(seconds % 60), "s");
    const hours = Math.floor(minutes / 60);
    if (hours < 48) return parts(hours, "h", minutes % 60, "m");
    return parts(Math.floor(hours / 24), "d", hours % 24, "h");
  }

  function shortHash(hash) {
    return hash ? h("code", { class: "hash", title: hash }, hash.slice(0, 10)) : "—";
  }

  function badge(text, tone, extra = {}) {
    return h("span", { class: `badge ${tone || ""}`, ...extra }, text);
  }

  const RUN_TONES = {
    completed: "good",
    running: "info",
    pending: "info",
    scheduled: "muted",
    awaiting_retry: "warn",
    failed: "bad",
    crashed: "bad",
    timed_out: "bad",
    cancelled: "muted",
    skipped: "muted",
  };

  function runBadge(state) {
    return badge(String(state || "").replace(/_/g, " "), RUN_TONES[state] || "", { "data-state": state });
  }

  const MODE_TONES = { active: "good", reducing: "warn", halted: "bad" };

  // ---------------------------------------------------------------- tables

  /**
   * A table. `columns`: [{label, value(row) → node|string, num, class}]; `options.rowAttributes(row)`
   * adds attributes (data-test, click handlers) to each row.
   */
  function table(columns, rows, options = {}) {
    const head = h("thead", {}, h("tr", {}, columns.map((column) =>
      h("th", { class: column.num ? "num" : null, title: column.title || null }, column.label))));
    const body = h("tbody", {});
    if (rows.length === 0) {
      body.append(h("tr", { class: "empty" },
        h("td", { colspan: columns.length }, options.empty || "Nothing yet.")));
    }
    for (const row of rows) {
      const attributes = options.rowAttributes ? options.rowAttributes(row) : {};
      body.append(h("tr", attributes, columns.map((column) => {
        const value = column.value(row);
        const extra = typeof column.class === "function" ? column.class(row) : column.class;
        return h("td", { class: [column.num ? "num" : "", extra || ""].join(" ").trim() || null },
          value === null || value === undefined || value === "" ? "—" : value);
      })));
    }
    return h("table", { class: "grid", "data-test": options.test || null }, head, body);
  }

  function panel(title, attributes, ...children) {
    const { actions, ...rest } = attributes || {};
    return h("div", { class: "panel", ...rest },
      h("div", { class: "panel-head" }, h("h2", {}, title), actions || null),
      h("div", { class: "panel-body" }, children));
  }

  function figure(label, value, options = {}) {
    return h("div", { class: "figure", "data-test": options.test || null, title: options.title || null },
      h("div", { class: "figure-label" }, label),
      h("div", { class: `figure-value ${options.class || ""}` }, value));
  }

  function errorBanner(error) {
    return h("div", { class: "error-banner", role: "alert" }, error.message || String(error));
  }

  // ---------------------------------------------------------------- API

  class ApiError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  let apiKey = null;

  async function api(path, options = {}) {
    const headers = { Accept: "application/json", Authorization: `Bearer ${apiKey}` };
    let body;
    if (options.body !== undefined) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(options.body);
    }
    let response;
    try {
      response = await fetch(path, { method: options.method || "GET", headers, body, cache: "no-store" });
    } catch (error) {
      throw new ApiError(0, `the daemon did not answer (${error.message})`);
    }
    let payload = null;
    const text = await response.text();
    if (text) {
      try {
        payload = JSON.parse(text);
      } catch {
        payload = { error: text.slice(0, 200) };
      }
    }
    if (!response.ok) {
      const message = (payload && payload.error) || `${response.status} ${response.statusText}`;
      if (response.status === 401 && !options.noSignOut) signOut(message);
      throw new ApiError(response.status, message);
    }
    return payload;
  }

  /** GET that turns a 404 or 503 into `fallback` (no spreads yet, trading not running here). */
  async function optional(path, fallback) {
    try {
      return await api(path);
    } catch (error) {
      if (error.status === 404 || error.status === 503) return fallback;
      throw error;
    }
  }

  // ---------------------------------------------------------------- toast

  let toastTimer = null;

  function toast(message, tone = "info") {
    const element = $("#toast");
    element.textContent = message;
    element.dataset.tone = tone;
    element.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { element.hidden = true; }, tone === "bad" ? 9000 : 4000);
  }

  // ---------------------------------------------------------------- charts

  const charts = new Map(); // key → { plot, element }

  function axisStyle(extra = {}) {
    return {
      stroke: COLORS.muted,
      grid: { stroke: COLORS.grid, width: 1 },
      ticks: { stroke: COLORS.axis, width: 1 },
      font: "11px system-ui, sans-serif",
      ...extra,
    };
  }

  const utcDate = (seconds) => uPlot.tzDate(new Date(seconds * 1000), "Etc/UTC");

  /** Time-axis labels in UTC on a 24-hour clock, with the date under the first tick of a day. */
  function timeAxisValues(plot, ticks, axisIndex, space, increment) {
    let previousDay = null;
    return ticks.map((tick) => {
      const iso = new Date(tick * 1000).toISOString();
      const day = iso.slice(5, 10);
      const clock = iso.slice(11, 16);
      if (increment >= 86400) return day;
      const label = day !== previousDay ? `${clock}\n${day}` : clock;
      previousDay = day;
      return label;
    });
  }

  /** The x series of a time chart: its legend shows the UTC time of the cursor. */
  const timeSeries = { value: (plot, value) => (value === null || value === undefined ? "—" : time(value * 1000)) };

  /**
   * Creates or updates the chart `key` inside `container`. A chart survives refreshes (setData),
   * so a live update does not rebuild its canvas or lose the cursor.
   */
  function chart(key, container, makeOptions, data) {
    const width = Math.max(320, container.clientWidth || container.parentElement.clientWidth || 600);
    let entry = charts.get(key);
    if (entry && entry.element.isConnected && entry.signature === makeOptions.signature) {
      if (entry.element.parentElement !== container) container.append(entry.element);
      entry.plot.setData(data);
      if (Math.abs(entry.plot.width - width) > 2) entry.plot.setSize({ width, height: entry.plot.height });
      return entry.plot;
    }
    if (entry) {
      entry.plot.destroy();
      charts.delete(key);
    }
    const element = h("div", { class: "chart-canvas" });
    container.append(element);
    const plot = new uPlot({ width, ...makeOptions.options }, data, element);
    charts.set(key, { plot, element, signature: makeOptions.signature });
    return plot;
  }

  /** Reattaches a live chart's element to a rebuilt page (keeps its canvas). */
  function chartSlot(key, attributes) {
    const slot = h("div", { class: "chart", ...attributes });
    const entry = charts.get(key);
    if (entry) slot.append(entry.element);
    return slot;
  }

  function resizeCharts() {
    for (const { plot, element } of charts.values()) {
      const container = element.parentElement;
      if (!container || !element.isConnected) continue;
      const width = Math.max(320, container.clientWidth);
      if (Math.abs(plot.width - width) > 2) plot.setSize({ width, height: plot.height });
    }
  }

  function destroyCharts() {
    for (const { plot } of charts.values()) plot.destroy();
    charts.clear();
  }

  /** Dashed horizontal lines at the given values (z thresholds), drawn under the series. */
  function thresholdLines(levels) {
    return (plot) => {
      const { ctx, bbox } = plot;
      ctx.save();
      ctx.lineWidth = 1 * devicePixelRatio;
      for (const { value, color, dash } of levels) {
        const y = Math.round(plot.valToPos(value, "y", true)) + 0.5;
        if (y < bbox.top || y > bbox.top + bbox.height) continue;
        ctx.strokeStyle = color;
        ctx.setLineDash(dash.map((length) => length * devicePixelRatio));
        ctx.beginPath();
        ctx.moveTo(bbox.left, y);
        ctx.lineTo(bbox.left + bbox.width, y);
        ctx.stroke();
      }
      ctx.restore();
    };
  }

  function markerSeries(label, color, shape) {
    return {
      label,
      stroke: color,
      fill: color,
      width: 0,
      paths: () => null,
      points: { show: true, space: 0, size: shape === "big" ? 11 : 9, width: 1.5, stroke: "#0d1117", fill: color },
      value: (plot, value) => (value === null || value === undefined ? "—" : value.toFixed(2)),
    };
  }

  // ---------------------------------------------------------------- pages

  const pageState = {
    runs: { selected: null, deployment: "", state: "", names: null, detail: null },
    scripts: { selected: null },
    trades: { fills: [], next: null, extra: false },
    risk: { confirming: null },
  };

  const pages = {};

  // Portfolio: account figures, performance, equity curve, positions, recent orders.
  pages.portfolio = async (root) => {
    const [account, positions, performance, orders] = await Promise.all([
      optional("/api/v1/account", null),
      api("/api/v1/positions"),
      api("/api/v1/performance?days=90"),
      api("/api/v1/orders?limit=15"),
    ]);
    const metrics = performance.metrics || {};
    const unrealised = sumDecimals(positions.map((position) => position.unrealised_pnl)) ?? "0";
    const figures = h("div", { class: "figures", "data-test": "account" },
      account
        ? [
          figure("Equity", money(account.equity), { test: "equity" }),
          figure("Cash", money(account.cash), { test: "cash" }),
          figure("Buying power", money(account.buying_power)),
          figure("Long value", money(account.long_market_value)),
          figure("Short value", money(account.short_market_value)),
        ]
        : figure("Account", "trading is not running in this daemon"),
      figure("Unrealised P&L", money(unrealised), { class: pnlClass(unrealised), test: "unrealised" }),
      figure("Net P&L (closed)", groupNumber(metrics.net_pnl, 2), { class: pnlClass(metrics.net_pnl) }),
      figure("Return", percent(metrics.total_return)),
      figure("Sharpe", groupNumber(metrics.sharpe, 2)),
      figure("Max drawdown", percent(metrics.max_drawdown)),
      figure("Trades", `${metrics.trades ?? 0} (${percent(metrics.win_rate, 0)} won)`),
      account && account.trading_blocked ? figure("Broker", "trading blocked", { class: "neg" }) : null,
    );

    const equity = performance.equity || [];
    const equityPanel = panel("Equity curve", { "data-test": "equity-panel" },
      equity.length < 2
        ? h("p", { class: "muted", "data-test": "equity-empty" }, "No portfolio snapshots yet.")
        : chartSlot("equity", { "data-test": "equity-chart" }));

    const positionsTable = table([
      { label: "Symbol", value: (p) => h("strong", {}, p.symbol) },
      { label: "Quantity", num: true, value: (p) => money(p.quantity), class: (p) => (signOf(p.quantity) < 0 ? "neg" : "") },
      { label: "Avg entry", num: true, value: (p) => money(p.average_entry_price) },
      { label: "Price", num: true, value: (p) => money(p.current_price) },
      { label: "Market value", num: true, value: (p) => money(p.market_value) },
      { label: "Unrealised P&L", num: true, value: (p) => money(p.unrealised_pnl), class: (p) => pnlClass(p.unrealised_pnl) },
      { label: "Updated", value: (p) => timeCell(p.updated_at) },
    ], positions, { test: "positions", empty: "No open positions.", rowAttributes: (p) => ({ "data-test": "position-row", "data-symbol": p.symbol }) });

    const ordersTable = table([
      { label: "Created", value: (o) => timeCell(o.created_at) },
      { label: "Symbol", value: (o) => o.symbol },
      { label: "Side", value: (o) => badge(o.side, o.side === "buy" ? "good" : "bad") },
      { label: "Qty", num: true, value: (o) => money(o.quantity) },
      { label: "Filled", num: true, value: (o) => money(o.filled_quantity) },
      { label: "Avg price", num: true, value: (o) => money(o.average_fill_price) },
      { label: "Status", value: (o) => badge(String(o.status).replace(/_/g, " "), orderTone(o.status)) },
      { label: "Strategy", value: (o) => o.strategy },
    ], orders, { test: "orders", empty: "No orders yet." });

    root.replaceChildren(
      h("div", { class: "page-head" }, h("h1", {}, "Portfolio")),
      figures,
      equityPanel,
      h("div", { class: "columns" },
        panel("Positions", { "data-test": "positions-panel" }, positionsTable),
        panel("Recent orders", {}, ordersTable)),
    );

    if (equity.length >= 2) {
      const data = [
        equity.map((point) => Date.parse(point.time) / 1000),
        equity.map((point) => point.equity),
        equity.map((point) => point.exposure),
      ];
      chart("equity", $('[data-test="equity-chart"]', root), {
        signature: "equity",
        options: {
          height: 260,
          tzDate: utcDate,
          cursor: { drag: { x: true, y: false } },
          scales: { x: { time: true }, exposure: { range: (plot, min, max) => [0, Math.max(max, 1) * 1.1] } },
          series: [
            timeSeries,
            { label: "Equity", stroke: COLORS.blue, width: 2, fill: "rgba(88,166,255,0.08)", scale: "$", points: { show: false }, value: (plot, value) => groupNumber(value, 2) },
            { label: "Gross exposure", stroke: COLORS.purple, width: 1, scale: "exposure", points: { show: false }, value: (plot, value) => groupNumber(value, 2) },
          ],
          axes: [
            axisStyle({ values: timeAxisValues }),
            axisStyle({ scale: "$", size: 80, values: (plot, ticks) => ticks.map((tick) => groupNumber(tick, 0)) }),
            axisStyle({ scale: "exposure", side: 1, size: 70, grid: { show: false }, values: (plot, ticks) => ticks.map((tick) => groupNumber(tick, 0)) }),
          ],
        },
      }, data);
    }
  };

  function orderTone(status) {
    if (status === "filled") return "good";
    if (["rejected", "expired"].includes(status)) return "bad";
    if (["cancelled", "canceled"].includes(status)) return "muted";
    return "info";
  }

  // Pairs: standings and a z-score chart per pair with entries, exits and thresholds.
  pages.pairs = async (root) => {
    const pairs = await api("/api/v1/pairs");
    const details = await Promise.all(pairs.map(async (pair) => {
      const segment = encodeURIComponent(pair.pair.replace("/", "-"));
      const [spreads, signals] = await Promise.all([
        optional(`/api/v1/pairs/${segment}/spreads?limit=500`, []),
        optional(`/api/v1/pairs/${segment}/signals?trades_only=true&limit=200`, { signals: [] }),
      ]);
      return { pair, spreads, signals: signals.signals || [] };
    }));

    const standings = table([
      { label: "Pair", value: (p) => h("strong", {}, p.pair) },
      { label: "Strategy", value: (p) => p.strategy },
      { label: "Position", value: (p) => badge(String(p.position).replace(/_/g, " "), p.position === "flat" ? "muted" : "info") },
      { label: "z now", num: true, value: (p) => (p.current_z === null ? "—" : p.current_z.toFixed(2)), class: (p) => zClass(p) },
      { label: "Hedge ratio", num: true, value: (p) => (p.details && typeof p.details.hedge_ratio === "number" ? p.details.hedge_ratio.toFixed(4) : "—") },
      { label: "Realised P&L", num: true, value: (p) => money(p.realised_pnl), class: (p) => pnlClass(p.realised_pnl) },
      { label: "Unrealised P&L", num: true, value: (p) => money(p.unrealised_pnl), class: (p) => pnlClass(p.unrealised_pnl) },
      { label: "Trades", num: true, value: (p) => String(p.trades) },
      { label: "Won", num: true, value: (p) => (p.trades ? `${p.wins} (${percent(p.wins / p.trades, 0)})` : "—") },
      { label: "Held", num: true, value: (p) => (p.holding_hours === null ? "—" : `${p.holding_hours.toFixed(1)} h`) },
      { label: "Updated", value: (p) => timeCell(p.updated_at) },
    ], pairs, { test: "pairs", empty: "No pair standings yet: the pairs strategy has not run.", rowAttributes: (p) => ({ "data-test": "pair-row", "data-pair": p.pair }) });

    const cards = details.map(({ pair, spreads, signals }) => {
      const key = `z:${pair.pair}`;
      const thresholds = pairThresholds(pair);
      const legend = thresholds
        ? `entry ±${thresholds.entry}, exit ±${thresholds.exit}${thresholds.stop ? `, stop ±${thresholds.stop}` : ""}`
        : "";
      return panel(`${pair.pair} z-score`, { class: "panel", "data-test": "pair-chart-panel", "data-pair": pair.pair },
        h("div", { class: "chart-note muted" },
          `${spreads.length} bars · ${signals.filter((s) => s.pair_trade_id).length} trade signals`,
          legend ? ` · ${legend}` : ""),
        spreads.length < 2
          ? h("p", { class: "muted" }, "No spreads recorded yet.")
          : chartSlot(key, { "data-test": "zchart", "data-pair": pair.pair }));
    });

    root.replaceChildren(
      h("div", { class: "page-head" }, h("h1", {}, "Pairs")),
      panel("Standings", {}, standings),
      h("div", { class: "chart-grid" }, cards),
    );

    for (const { pair, spreads, signals } of details) {
      if (spreads.length < 2) continue;
      const slot = root.querySelector(`[data-test="zchart"][data-pair="${CSS.escape(pair.pair)}"]`);
      drawZChart(pair, spreads, signals, slot);
    }
  };

  function zClass(pair) {
    const thresholds = pairThresholds(pair);
    if (pair.current_z === null || !thresholds) return "";
    return Math.abs(pair.current_z) >= thresholds.entry ? "warn-text" : "";
  }

  /** Entry/exit/stop levels when the strategy records them in its standing's details. */
  function pairThresholds(pair) {
    const details = pair.details || {};
    const entry = Number(details.entry_z);
    const exit = Number(details.exit_z);
    if (!Number.isFinite(entry) || !Number.isFinite(exit)) return null;
    const stop = Number(details.stop_z);
    return { entry, exit, stop: Number.isFinite(stop) ? stop : null };
  }

  function drawZChart(pair, spreads, signals, slot) {
    // Spreads arrive newest first; uPlot wants ascending x.
    const rows = [...spreads].reverse();
    const times = rows.map((row) => Date.parse(row.time) / 1000);
    const z = rows.map((row) => (row.zscore === null || row.zscore === undefined ? null : row.zscore));
    const entries = times.map(() => null);
    const exits = times.map(() => null);
    const stops = times.map(() => null);
    const first = times[0];
    for (const signal of signals) {
      if (!signal.pair_trade_id) continue; // signals that did not open or close a trade
      const at = Date.parse(signal.time) / 1000;
      if (at < first) continue;
      const index = nearestIndex(times, at);
      const value = signal.zscore ?? z[index];
      if (signal.signal.startsWith("enter")) entries[index] = value;
      else if (signal.signal === "exit") exits[index] = value;
      else stops[index] = value;
    }
    const thresholds = pairThresholds(pair);
    const levels = [{ value: 0, color: COLORS.axis, dash: [] }];
    if (thresholds) {
      levels.push(
        { value: thresholds.entry, color: "rgba(210,153,34,0.8)", dash: [6, 4] },
        { value: -thresholds.entry, color: "rgba(210,153,34,0.8)", dash: [6, 4] },
        { value: thresholds.exit, color: "rgba(139,148,158,0.7)", dash: [2, 4] },
        { value: -thresholds.exit, color: "rgba(139,148,158,0.7)", dash: [2, 4] },
      );
      if (thresholds.stop) {
        levels.push(
          { value: thresholds.stop, color: "rgba(248,81,73,0.7)", dash: [6, 4] },
          { value: -thresholds.stop, color: "rgba(248,81,73,0.7)", dash: [6, 4] },
        );
      }
    }
    const extent = thresholds ? (thresholds.stop || thresholds.entry) * 1.1 : 2.5;
    chart(`z:${pair.pair}`, slot, {
      signature: `z:${thresholds ? JSON.stringify(thresholds) : "none"}`,
      options: {
        height: 220,
        tzDate: utcDate,
        cursor: { drag: { x: true, y: false } },
        scales: {
          x: { time: true },
          y: { range: (plot, min, max) => [Math.min(min ?? 0, -extent), Math.max(max ?? 0, extent)] },
        },
        series: [
          timeSeries,
          { label: "z", stroke: COLORS.blue, width: 1.5, value: (plot, value) => (value === null ? "—" : value.toFixed(2)) },
          markerSeries("entry", COLORS.green, "big"),
          markerSeries("exit", COLORS.text),
          markerSeries("stop", COLORS.red, "big"),
        ],
        axes: [axisStyle({ values: timeAxisValues }), axisStyle({ size: 44 })],
        hooks: { drawAxes: [thresholdLines(levels)] },
      },
    }, [times, z, entries, exits, stops]);
  }

  function nearestIndex(sorted, value) {
    let low = 0;
    let high = sorted.length - 1;
    while (low < high) {
      const middle = (low + high) >> 1;
      if (sorted[middle] < value) low = middle + 1;
      else high = middle;
    }
    if (low > 0 && Math.abs(sorted[low - 1] - value) < Math.abs(sorted[low] - value)) return low - 1;
    return low;
  }

  // Runs: the newest runs with filters; a run's states, tasks and logs beside the list.
  pages.runs = async (root) => {
    const state = pageState.runs;
    const query = new URLSearchParams({ limit: "100" });
    if (state.deployment) query.set("deployment", state.deployment);
    if (state.state) query.set("state", state.state);
    // Run events arrive many times a second, so a refresh fetches only what can have changed:
    // the deployment names once per visit, and a selected run's detail until it has ended.
    const cached = state.detail && state.detail.run.id === state.selected && isEnded(state.detail.run.state);
    const [page, names, detail] = await Promise.all([
      api(`/api/v1/runs?${query}`),
      state.names || api("/api/v1/deployments").then((list) => list.map((deployment) => deployment.name)),
      !state.selected ? null : cached ? state.detail : runDetail(state.selected),
    ]);
    state.names = names;
    state.detail = detail;
    const runs = page.runs || [];

    const deploymentFilter = h("select", {
      id: "runs-deployment",
      onchange: (event) => { state.deployment = event.target.value; refreshNow("runs"); },
    }, h("option", { value: "" }, "every deployment"),
    names.map((name) => h("option", { value: name, selected: name === state.deployment }, name)));
    const stateFilter = h("select", {
      id: "runs-state",
      onchange: (event) => { state.state = event.target.value; refreshNow("runs"); },
    }, h("option", { value: "" }, "every state"),
    Object.keys(RUN_TONES).map((name) => h("option", { value: name, selected: name === state.state }, name.replace(/_/g, " "))));

    const runsTable = table([
      { label: "Run", num: true, value: (r) => `#${r.id}` },
      { label: "Deployment", value: (r) => h("strong", {}, r.deployment) },
      { label: "State", value: (r) => runBadge(r.state) },
      { label: "Trigger", value: (r) => r.trigger },
      { label: "Try", num: true, value: (r) => `${r.attempt}/${r.max_attempts}` },
      { label: "Started", value: (r) => timeCell(r.started_at || r.scheduled_at) },
      { label: "Duration", num: true, value: (r) => runDuration(r) },
      { label: "Error", value: (r) => (r.error ? h("span", { class: "error-text clip narrow", title: r.error }, r.error) : "") },
    ], runs, {
      test: "runs",
      empty: "No runs match.",
      rowAttributes: (r) => ({
        "data-test": "run-row",
        "data-run-id": r.id,
        "data-state": r.state,
        class: `clickable ${state.selected === r.id ? "selected" : ""}`,
        onclick: () => { state.selected = r.id; refreshNow("runs"); },
      }),
    });

    root.replaceChildren(
      h("div", { class: "page-head" }, h("h1", {}, "Flow runs"),
        h("div", { class: "filters" }, deploymentFilter, stateFilter)),
      h("div", { class: "split" },
        panel(`Newest runs (${runs.length})`, { class: "panel scroll" }, runsTable),
        detail ? renderRunDetail(detail) : panel("Run", { "data-test": "run-detail-empty" }, h("p", { class: "muted" }, "Click a run to see its states, tasks and logs."))),
    );
  };

  async function runDetail(id) {
    try {
      const [detail, logs] = await Promise.all([api(`/api/v1/runs/${id}`), api(`/api/v1/runs/${id}/logs`)]);
      return { ...detail, logs };
    } catch (error) {
      if (error.status === 404) {
        pageState.runs.selected = null;
        return null;
      }
      throw error;
    }
  }

  function runDuration(run) {
    if (!run.started_at) return "—";
    if (!run.ended_at) return h("span", { class: "muted" }, "running");
    return duration(Date.parse(run.ended_at) - Date.parse(run.started_at));
  }

  function isEnded(state) {
    return ["completed", "failed", "cancelled", "crashed", "timed_out", "skipped"].includes(state);
  }

  function renderRunDetail({ run, states, tasks, logs }) {
    const ended = isEnded(run.state);
    const actions = h("div", { class: "actions" },
      !ended ? h("button", { type: "button", class: "danger small", "data-action": "cancel-run", onclick: () => mutate(`/api/v1/runs/${run.id}/cancel`, {}, `Cancel requested for run #${run.id}`, ["runs"]) }, "Cancel") : null,
      ended ? h("button", { type: "button", class: "small", "data-action": "retry-run", onclick: () => mutate(`/api/v1/runs/${run.id}/retry`, {}, `Retry submitted for run #${run.id}`, ["runs"]) }, "Retry") : null,
      h("button", { type: "button", class: "ghost small", onclick: () => { pageState.runs.selected = null; refreshNow("runs"); } }, "Close"));
    return panel(`Run #${run.id} · ${run.deployment}`, { "data-test": "run-detail", "data-run-id": run.id, class: "panel scroll", actions },
      h("dl", { class: "facts" },
        h("dt", {}, "State"), h("dd", {}, runBadge(run.state)),
        h("dt", {}, "Trigger"), h("dd", {}, run.trigger),
        h("dt", {}, "Attempt"), h("dd", {}, `${run.attempt} of ${run.max_attempts}`),
        h("dt", {}, "Scheduled"), h("dd", {}, time(run.scheduled_at)),
        h("dt", {}, "Duration"), h("dd", {}, runDuration(run)),
        h("dt", {}, "Script"), h("dd", {}, shortHash(run.script_hash)),
        h("dt", {}, "Parameters"), h("dd", {}, h("code", {}, JSON.stringify(run.parameters))),
        run.error ? [h("dt", {}, "Error"), h("dd", { class: "error-text" }, run.error_line ? `line ${run.error_line}: ${run.error}` : run.error)] : null,
        run.result !== null && run.result !== undefined ? [h("dt", {}, "Result"), h("dd", {}, h("code", { class: "wrap" }, JSON.stringify(run.result)))] : null),
      h("h3", {}, "States"),
      table([
        { label: "At", value: (s) => timeCell(s.at) },
        { label: "Try", num: true, value: (s) => String(s.attempt) },
        { label: "State", value: (s) => runBadge(s.state) },
        { label: "Message", value: (s) => s.message || "" },
      ], states, { test: "run-states" }),
      tasks.length ? [h("h3", {}, "Tasks"), table([
        { label: "Task", value: (t) => t.name },
        { label: "State", value: (t) => runBadge(t.state) },
        { label: "Tries", num: true, value: (t) => String(t.attempts) },
        { label: "Cached", value: (t) => (t.cache_hit ? "yes" : "") },
        { label: "Error", value: (t) => t.error || "" },
      ], tasks)] : null,
      h("h3", {}, `Logs (${logs.length})`),
      logs.length
        ? h("div", { class: "logs", "data-test": "run-logs" }, logs.map((line) =>
          h("div", { class: `log-line level-${String(line.level).toLowerCase()}` },
            h("span", { class: "time" }, time(line.at).slice(11)),
            h("span", { class: "level" }, line.level),
            h("span", { class: "message" }, line.message))))
        : h("p", { class: "muted", "data-test": "run-logs" }, "No log lines."));
  }

  // Deployments: schedules, next run, pause/resume, run now.
  pages.deployments = async (root) => {
    const deployments = await api("/api/v1/deployments");
    const rows = table([
      { label: "Deployment", value: (d) => h("strong", {}, d.name) },
      { label: "Status", value: (d) => (d.paused ? badge("paused", "warn", { "data-test": "paused" }) : badge("active", "good", { "data-test": "active" })) },
      { label: "Schedule", value: (d) => scheduleText(d.spec) },
      { label: "Next run", value: (d) => timeCell(d.next_run) },
      { label: "Last run", value: (d) => (d.last_run ? h("span", {}, runBadge(d.last_run.state), " ", h("a", { href: "#/runs", onclick: () => { pageState.runs.selected = d.last_run.id; } }, `#${d.last_run.id}`), " ", timeCell(d.last_run.ended_at || d.last_run.started_at || d.last_run.scheduled_at)) : "never") },
      { label: "Timeout", num: true, value: (d) => (d.spec && d.spec.timeout_seconds ? duration(d.spec.timeout_seconds * 1000) : "—") },
      { label: "", value: (d) => h("div", { class: "actions" },
        d.paused
          ? h("button", { type: "button", class: "small", "data-action": "resume", onclick: () => mutate(`/api/v1/deployments/${encodeURIComponent(d.name)}/resume`, {}, `${d.name} resumed`, ["deployments"]) }, "Resume")
          : h("button", { type: "button", class: "small", "data-action": "pause", onclick: () => mutate(`/api/v1/deployments/${encodeURIComponent(d.name)}/pause`, {}, `${d.name} paused`, ["deployments"]) }, "Pause"),
        h("button", { type: "button", class: "small primary", "data-action": "run", onclick: () => runNow(d.name) }, "Run now")) },
    ], deployments, {
      test: "deployments",
      empty: "No deployments: no flow script is loaded.",
      rowAttributes: (d) => ({ "data-test": "deployment-row", "data-deployment": d.name, "data-paused": String(d.paused), class: d.paused ? "dim" : null }),
    });
    const paused = deployments.filter((d) => d.paused).length;
    root.replaceChildren(
      h("div", { class: "page-head" }, h("h1", {}, "Deployments"),
        h("span", { class: "muted" }, `${deployments.length} deployments, ${paused} paused`)),
      panel("Schedules", {}, rows));
  };

  function scheduleText(spec) {
    if (!spec) return "—";
    const parts = (spec.schedules || []).map((schedule) => `${schedule.cron}${schedule.timezone && schedule.timezone !== "UTC" ? ` (${schedule.timezone})` : ""}`);
    const triggers = (spec.triggers || []).map((trigger) => `on ${trigger}`);
    const gate = spec.calendar && spec.calendar !== "none" ? ` · ${String(spec.calendar).replace(/_/g, " ")}` : "";
    const text = [...parts, ...triggers].join(", ") || "manual";
    return h("span", {}, h("code", {}, text), gate);
  }

  async function runNow(name) {
    try {
      const created = await api(`/api/v1/deployments/${encodeURIComponent(name)}/run`, { method: "POST", body: { parameters: {} } });
      toast(`Run #${created.run_id} of ${name} submitted`, "good");
      refreshNow("deployments");
    } catch (error) {
      toast(`Run now failed: ${error.message}`, "bad");
    }
  }

  async function mutate(path, body, success, refresh) {
    try {
      await api(path, { method: "POST", body });
      toast(success, "good");
    } catch (error) {
      toast(error.message, "bad");
    }
    for (const name of refresh) refreshNow(name);
  }

  // Risk: mode, state, limit use, decisions, events, the kill switch.
  pages.risk = async (root) => {
    const [status, limits, decisions, events] = await Promise.all([
      optional("/api/v1/risk", null),
      optional("/api/v1/risk/limits", null),
      api("/api/v1/risk/decisions?limit=50"),
      api("/api/v1/risk/events?limit=20"),
    ]);
    if (status) showRiskMode(status.mode);
    const mode = status ? status.mode : "unknown";
    const modeDetail = status && status.state && status.state.mode && typeof status.state.mode === "object" ? status.state.mode : {};
    const riskState = (status && status.state) || {};

    const control = h("div", { class: "kill-zone", "data-test": "risk-control" },
      h("div", { class: "mode" },
        h("span", { class: "muted" }, "Trading mode"),
        badge(mode, MODE_TONES[mode] || "", { id: "risk-mode", "data-test": "risk-mode", "data-mode": mode }),
        modeDetail.reason ? h("span", { class: "mode-reason" }, modeDetail.reason, modeDetail.since ? ` — since ${time(modeDetail.since)}` : "") : null),
      status ? killSwitch(mode) : h("p", { class: "muted" }, "Trading is not running in this daemon."));

    const figures = status ? h("div", { class: "figures" },
      figure("Last equity", money(riskState.last_equity)),
      figure("Peak equity", money(riskState.peak_equity)),
      figure("Day start equity", money(riskState.day_start_equity)),
      figure("Trading day", riskState.trading_day || "—"),
      figure("Consecutive losses", String(riskState.consecutive_losses ?? "—")),
      figure("Cooldown until", riskState.cooldown_until ? time(riskState.cooldown_until) : "—"),
      figure("Open orders", String(status.open_orders)),
      figure("Blocked symbols", status.blocked_symbols.length ? status.blocked_symbols.join(", ") : "none", { class: status.blocked_symbols.length ? "neg" : "" }),
    ) : null;

    const usage = limits ? h("div", { class: "usage", "data-test": "limit-usage" },
      limits.utilisation.map((item) => {
        const ratio = Math.max(0, item.ratio || 0);
        const tone = ratio >= 0.9 ? "bad" : ratio >= 0.7 ? "warn" : "good";
        return h("div", { class: "usage-row", "data-test": "limit-row", "data-limit": item.limit },
          h("div", { class: "usage-label" }, item.limit.replace(/^max_/, "").replace(/_/g, " ")),
          h("div", { class: "usage-bar" }, h("div", { class: `usage-fill ${tone}`, style: { width: `${Math.min(100, ratio * 100).toFixed(1)}%` } })),
          h("div", { class: "usage-value num" }, `${groupNumber(item.used, 2)} / ${groupNumber(item.maximum, 2)}`),
          h("div", { class: `usage-ratio num ${tone}-text` }, percent(ratio, 0)));
      })) : h("p", { class: "muted" }, "No limits: trading is not running in this daemon.");

    const decisionTable = table([
      { label: "Time", value: (d) => timeCell(d.time) },
      { label: "Strategy", value: (d) => d.strategy },
      { label: "Symbol", value: (d) => h("strong", {}, d.symbol) },
      { label: "Side", value: (d) => d.side },
      { label: "Qty", num: true, value: (d) => money(d.quantity) },
      { label: "Approved", num: true, value: (d) => money(d.approved_quantity) },
      { label: "Outcome", value: (d) => badge(d.outcome, d.outcome === "accepted" ? "good" : d.outcome === "clipped" ? "warn" : "bad") },
      { label: "Rule", value: (d) => d.rule || "" },
      { label: "Reason", value: (d) => (d.reason ? h("span", { class: "clip", title: d.reason }, d.reason) : "") },
    ], decisions, { test: "decisions", empty: "No decisions yet.", rowAttributes: (d) => ({ "data-test": "decision-row", "data-outcome": d.outcome }) });

    const eventTable = table([
      { label: "Time", value: (e) => timeCell(e.time) },
      { label: "Kind", value: (e) => e.kind },
      { label: "Severity", value: (e) => badge(e.severity, e.severity === "critical" || e.severity === "error" ? "bad" : e.severity === "warning" ? "warn" : "muted") },
      { label: "Message", value: (e) => e.message },
    ], events, { test: "risk-events", empty: "No risk events." });

    root.replaceChildren(
      h("div", { class: "page-head" }, h("h1", {}, "Risk")),
      control,
      figures,
      h("div", { class: "columns" },
        panel("Limit use", {}, usage),
        panel("Risk events", { class: "panel scroll" }, eventTable)),
      panel("Recent decisions", { class: "panel scroll" }, decisionTable));
  };

  function operatorName() {
    return sessionStorage.getItem(OPERATOR_STORAGE) || "dashboard";
  }

  /** The kill switch (two steps: the button, then a reason and a confirm), or Resume when halted. */
  function killSwitch(mode) {
    const confirming = pageState.risk.confirming;
    // A live refresh while a confirmation is open keeps the same form, and what was typed in it.
    const open = confirming && document.getElementById(confirming === "halt" ? "kill-confirm" : "resume-confirm");
    if (open && (confirming === "halt") === (mode !== "halted")) return open;
    if (mode === "halted") {
      if (confirming !== "resume") {
        return h("div", { class: "kill-actions" },
          h("button", { id: "risk-resume", type: "button", class: "primary", onclick: () => { pageState.risk.confirming = "resume"; refreshNow("risk"); } }, "Resume trading…"));
      }
      const operator = h("input", { id: "resume-operator", type: "text", value: operatorName(), maxlength: 100 });
      return h("form", {
        id: "resume-confirm",
        class: "confirm-box",
        onsubmit: async (event) => {
          event.preventDefault();
          const name = operator.value.trim();
          if (!name) return;
          sessionStorage.setItem(OPERATOR_STORAGE, name);
          pageState.risk.confirming = null;
          await mutate("/api/v1/risk/resume", { operator: name }, "Trading resumed", ["risk"]);
          refreshStatus();
        },
      },
      h("p", {}, "Resume trading? Orders will pass the risk engine again."),
      h("label", {}, "Operator ", operator),
      h("div", { class: "actions" },
        h("button", { id: "resume-confirm-button", type: "submit", class: "primary" }, "Resume trading"),
        h("button", { type: "button", class: "ghost", onclick: () => { pageState.risk.confirming = null; refreshNow("risk"); } }, "Cancel")));
    }
    if (confirming !== "halt") {
      return h("div", { class: "kill-actions" },
        h("button", { id: "kill-switch", "data-test": "kill-switch", type: "button", class: "danger big", onclick: () => { pageState.risk.confirming = "halt"; refreshNow("risk"); } }, "Kill switch — halt trading"));
    }
    const reason = h("input", { id: "kill-reason", type: "text", maxlength: 500, placeholder: "Why halt? (required)", autocomplete: "off" });
    const operator = h("input", { id: "kill-operator", type: "text", value: operatorName(), maxlength: 100 });
    const flatten = h("input", { id: "kill-flatten", type: "checkbox" });
    const confirm = h("button", { id: "kill-confirm-button", type: "submit", class: "danger", disabled: true }, "Halt trading now");
    reason.addEventListener("input", () => { confirm.disabled = !reason.value.trim(); });
    setTimeout(() => reason.focus(), 0);
    return h("form", {
      id: "kill-confirm",
      class: "confirm-box danger-box",
      onsubmit: async (event) => {
        event.preventDefault();
        const why = reason.value.trim();
        const who = operator.value.trim();
        if (!why || !who) return;
        sessionStorage.setItem(OPERATOR_STORAGE, who);
        confirm.disabled = true;
        try {
          const report = await api("/api/v1/risk/halt", { method: "POST", body: { reason: why, operator: who, flatten: flatten.checked } });
          pageState.risk.confirming = null;
          toast(`Trading halted: ${report.cancelled.length} orders cancelled, ${report.flattened.length} positions closed${report.errors.length ? `, ${report.errors.length} errors` : ""}`, report.errors.length ? "bad" : "good");
        } catch (error) {
          confirm.disabled = false;
          toast(`Halt failed: ${error.message}`, "bad");
          return;
        }
        refreshNow("risk");
        refreshStatus();
      },
    },
    h("p", { class: "danger-text" }, "Halting cancels every open order and refuses all new ones until an operator resumes."),
    h("label", {}, "Reason ", reason),
    h("label", {}, "Operator ", operator),
    h("label", { class: "check" }, flatten, " also close every position"),
    h("div", { class: "actions" }, confirm,
      h("button", { id: "kill-cancel", type: "button", class: "ghost", onclick: () => { pageState.risk.confirming = null; refreshNow("risk"); } }, "Cancel")));
  }

  // Scripts: what serves, reload errors, versions.
  pages.scripts = async (root) => {
    const state = pageState.scripts;
    const [scripts, versions] = await Promise.all([
      optional("/api/v1/scripts", null),
      state.selected ? optional(`/api/v1/scripts/${encodeURIComponent(state.selected)}/versions?limit=25`, []) : null,
    ]);
    if (!scripts) {
      root.replaceChildren(h("div", { class: "page-head" }, h("h1", {}, "Scripts")), h("p", { class: "muted" }, "Scripts are not loaded in this daemon."));
      return;
    }
    const failing = scripts.filter((script) => script.reload_error);
    const list = table([
      { label: "Script", value: (s) => h("strong", {}, s.name) },
      { label: "Kind", value: (s) => s.kind || "—" },
      { label: "Serving hash", value: (s) => shortHash(s.hash) },
      { label: "Loaded", value: (s) => timeCell(s.loaded_at) },
      { label: "Reload", value: (s) => (s.reload_error
        ? h("span", { class: "error-text", "data-test": "reload-error" },
          s.reload_error.line ? `line ${s.reload_error.line}${s.reload_error.column ? `:${s.reload_error.column}` : ""}: ` : "",
          s.reload_error.message)
        : badge("ok", "good")) },
    ], scripts, {
      test: "scripts",
      rowAttributes: (s) => ({
        "data-test": "script-row",
        "data-script": s.name,
        class: `clickable ${s.reload_error ? "row-error" : ""} ${state.selected === s.name ? "selected" : ""}`,
        title: s.path,
        onclick: () => { state.selected = s.name; refreshNow("scripts"); },
      }),
    });
    const selected = scripts.find((script) => script.name === state.selected);
    const versionPanel = state.selected
      ? panel(`${selected ? selected.path : state.selected}: versions`, { "data-test": "script-versions", class: "panel scroll", actions: h("button", { type: "button", class: "ghost small", onclick: () => { state.selected = null; refreshNow("scripts"); } }, "Close") },
        table([
          { label: "Id", num: true, value: (v) => String(v.id) },
          { label: "Hash", value: (v) => shortHash(v.hash) },
          { label: "Status", value: (v) => badge(v.status, v.status === "active" ? "good" : v.status === "rejected" ? "bad" : "muted") },
          { label: "Loaded", value: (v) => timeCell(v.loaded_at) },
          { label: "Error", value: (v) => (v.error ? h("span", { class: "error-text" }, v.line ? `line ${v.line}: ` : "", v.error) : "") },
        ], versions || [], { empty: "No stored versions." }),
        (versions || []).length ? h("details", { class: "source" }, h("summary", {}, `Source of version ${versions[0].id}`), h("pre", {}, versions[0].source)) : null)
      : null;
    root.replaceChildren(
      h("div", { class: "page-head" }, h("h1", {}, "Scripts"),
        failing.length
          ? badge(`${failing.length} reload error${failing.length > 1 ? "s" : ""}`, "bad", { "data-test": "reload-error-count" })
          : badge("all scripts load", "good")),
      h("div", { class: state.selected ? "split" : "" }, panel(`Loaded scripts (${scripts.length})`, { class: "panel scroll" }, list), versionPanel));
  };

  // Trades: closed pair trades, trade signals and every fill (paged).
  pages.trades = async (root) => {
    const state = pageState.trades;
    const [performance, signals, fills] = await Promise.all([
      api("/api/v1/performance?days=90"),
      api("/api/v1/pairs/all/signals?trades_only=true&limit=200"),
      api("/api/v1/fills?limit=100"),
    ]);
    // Older pages the operator loaded stay below the fresh first page.
    const fresh = fills.fills || [];
    const seen = new Set(fresh.map((fill) => fill.execution_id));
    const older = state.extra ? state.fills.filter((fill) => !seen.has(fill.execution_id)) : [];
    state.fills = [...fresh, ...older];
    if (!state.extra) state.next = fills.next;
    const trades = [...(performance.trades || [])].reverse();

    const tradeTable = table([
      { label: "Pair", value: (t) => h("strong", {}, t.pair) },
      { label: "Direction", value: (t) => String(t.direction).replace(/_/g, " ") },
      { label: "Entry", value: (t) => timeCell(t.entry_time) },
      { label: "Exit", value: (t) => timeCell(t.exit_time) },
      { label: "Held", num: true, value: (t) => duration(Date.parse(t.exit_time) - Date.parse(t.entry_time)) },
      { label: "Entry z", num: true, value: (t) => t.entry_z.toFixed(2) },
      { label: "Exit z", num: true, value: (t) => t.exit_z.toFixed(2) },
      { label: "Exit reason", value: (t) => t.exit_reason },
      { label: "P&L", num: true, value: (t) => groupNumber(t.pnl, 2), class: (t) => pnlClass(t.pnl) },
    ], trades, { test: "pair-trades", empty: "No closed pair trades yet." });

    const signalTable = table([
      { label: "Time", value: (s) => timeCell(s.time) },
      { label: "Pair", value: (s) => h("strong", {}, s.pair) },
      { label: "Signal", value: (s) => badge(s.signal.replace(/_/g, " "), s.signal.startsWith("enter") ? "good" : s.signal === "exit" ? "info" : "bad") },
      { label: "z", num: true, value: (s) => (s.zscore === null ? "—" : s.zscore.toFixed(2)) },
      { label: "Position", value: (s) => s.position.replace(/_/g, " ") },
      { label: "Trade", value: (s) => (s.pair_trade_id ? h("code", { title: s.pair_trade_id }, s.pair_trade_id.slice(0, 12)) : h("span", { class: "muted" }, "none")) },
      { label: "Reason", value: (s) => h("span", { class: "clip", title: s.reason }, s.reason) },
    ], signals.signals || [], { test: "trade-signals", empty: "No entries or exits yet." });

    const fillTable = table([
      { label: "Time", value: (f) => timeCell(f.time) },
      { label: "Symbol", value: (f) => h("strong", {}, f.symbol) },
      { label: "Side", value: (f) => badge(f.side, f.side === "buy" ? "good" : "bad") },
      { label: "Quantity", num: true, value: (f) => money(f.quantity) },
      { label: "Price", num: true, value: (f) => money(f.price) },
      { label: "Commission", num: true, value: (f) => money(f.commission) },
      { label: "Strategy", value: (f) => f.strategy || "" },
      { label: "Order", value: (f) => (f.client_order_id ? h("code", { title: f.client_order_id }, f.client_order_id.slice(0, 14)) : "") },
    ], state.fills, { test: "fills", empty: "No fills yet.", rowAttributes: (f) => ({ "data-test": "fill-row" }) });

    const more = state.next
      ? h("button", { type: "button", class: "small", id: "fills-more", onclick: loadOlderFills }, "Load older fills")
      : null;

    root.replaceChildren(
      h("div", { class: "page-head" }, h("h1", {}, "Trade history")),
      panel(`Closed pair trades (${trades.length})`, { class: "panel scroll short" }, tradeTable),
      panel("Entries and exits", { class: "panel scroll short" }, signalTable),
      panel(`Fills (${state.fills.length})`, { actions: more }, fillTable));
  };

  async function loadOlderFills() {
    const state = pageState.trades;
    if (!state.next) return;
    try {
      const page = await api(`/api/v1/fills?limit=100&before=${encodeURIComponent(state.next)}`);
      state.fills = [...state.fills, ...(page.fills || [])];
      state.next = page.next;
      state.extra = true;
      refreshNow("trades");
    } catch (error) {
      toast(error.message, "bad");
    }
  }

  // ---------------------------------------------------------------- refresh scheduling

  let currentPage = null;
  const refreshers = new Map(); // page → { timer, running, again, last }

  function refresher(name) {
    if (!refreshers.has(name)) refreshers.set(name, { timer: null, running: false, again: false, last: 0 });
    return refreshers.get(name);
  }

  /** An event touched `name`: refresh it soon if it is showing (gathered, and spaced out). */
  function refreshSoon(name) {
    if (name !== currentPage) return; // another page is fetched fresh when it is opened
    const entry = refresher(name);
    if (entry.running) {
      entry.again = true;
      return;
    }
    if (entry.timer) return;
    const gap = MIN_REFRESH_GAP_MS[name] || DEFAULT_REFRESH_GAP_MS;
    const wait = Math.max(DEBOUNCE_MS, entry.last + gap - Date.now());
    entry.timer = setTimeout(() => {
      entry.timer = null;
      refreshNow(name);
    }, wait);
  }

  async function refreshNow(name) {
    if (name !== currentPage || !apiKey) return;
    const entry = refresher(name);
    if (entry.running) {
      entry.again = true;
      return;
    }
    clearTimeout(entry.timer);
    entry.timer = null;
    entry.running = true;
    entry.last = Date.now();
    const root = pageElement(name);
    // Scroll positions survive a rebuild: a refresh must not move what someone is reading.
    const scrolls = [...root.querySelectorAll(".scroll .panel-body")].map((element) => element.scrollTop);
    try {
      await pages[name](root);
      root.dataset.loaded = "true";
      root.dataset.refreshedAt = String(Date.now());
      [...root.querySelectorAll(".scroll .panel-body")].forEach((element, index) => {
        if (scrolls[index]) element.scrollTop = scrolls[index];
      });
    } catch (error) {
      if (apiKey) {
        root.querySelector(":scope > .error-banner")?.remove();
        root.prepend(errorBanner(error));
      }
    } finally {
      entry.running = false;
      if (entry.again) {
        entry.again = false;
        refreshSoon(name);
      }
    }
  }

  // ---------------------------------------------------------------- header status

  function showRiskMode(mode) {
    const element = $("#risk-badge");
    element.textContent = `risk ${mode}`;
    element.dataset.mode = mode;
    element.className = `badge ${MODE_TONES[mode] || ""}`;
  }

  async function refreshStatus() {
    try {
      const status = await api("/api/v1/risk");
      showRiskMode(status.mode);
    } catch (error) {
      if (error.status === 503) showRiskMode("off");
    }
  }

  // The host clock as last read, advanced locally between reads (a simulated clock runs fast).
  let hostClock = null; // { now (ms), speed, readAt (ms), label }

  async function refreshClock() {
    try {
      const response = await fetch("/api/v1/health", { cache: "no-store" });
      const health = await response.json();
      const clock = health.clock || {};
      const simulated = clock.mode === "simulated";
      hostClock = {
        now: Date.parse(clock.now),
        speed: simulated ? Number(clock.speed) : 1,
        readAt: Date.now(),
        label: simulated ? ` · sim ×${clock.speed}` : "",
      };
      $("#clock").dataset.status = health.status;
      tickClock();
    } catch {
      hostClock = null;
      $("#clock").textContent = "daemon unreachable";
    }
  }

  function tickClock() {
    if (!hostClock || Number.isNaN(hostClock.now)) return;
    const now = hostClock.now + (Date.now() - hostClock.readAt) * hostClock.speed;
    $("#clock").textContent = `${time(now)} UTC${hostClock.label}`;
  }

  // ---------------------------------------------------------------- event stream

  let stream = null; // { controller }
  let eventCount = 0;

  function setLive(state, label) {
    const element = $("#live");
    element.dataset.state = state;
    $("#live-label").textContent = label;
  }

  /** Follows `/api/v1/events` with fetch (EventSource cannot send the key) and reconnects. */
  function startStream() {
    stopStream();
    const controller = new AbortController();
    stream = { controller };
    let backoff = 1000;
    const loop = async () => {
      while (!controller.signal.aborted) {
        setLive("connecting", "connecting");
        try {
          const response = await fetch(`/api/v1/events?kinds=${EVENT_KINDS}`, {
            headers: { Authorization: `Bearer ${apiKey}`, Accept: "text/event-stream" },
            signal: controller.signal,
            cache: "no-store",
          });
          if (response.status === 401) {
            const body = await response.json().catch(() => ({}));
            signOut(body.error || "the API key is not valid");
            return;
          }
          if (!response.ok || !response.body) throw new Error(`status ${response.status}`);
          await readFrames(response.body, controller.signal, () => { backoff = 1000; });
        } catch (error) {
          if (controller.signal.aborted) return;
        }
        if (controller.signal.aborted) return;
        setLive("down", `reconnecting in ${Math.round(backoff / 1000)} s`);
        await new Promise((resolve) => setTimeout(resolve, backoff));
        backoff = Math.min(backoff * 2, 30000);
      }
    };
    loop();
  }

  function stopStream() {
    if (stream) stream.controller.abort();
    stream = null;
  }

  async function readFrames(body, signal, onOpen) {
    const reader = body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    signal.addEventListener("abort", () => reader.cancel().catch(() => {}), { once: true });
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      // Frames end with a blank line; SSE allows \n, \r\n or \r line ends.
      let boundary;
      while ((boundary = buffer.search(/\r\n\r\n|\n\n|\r\r/)) >= 0) {
        const frame = buffer.slice(0, boundary);
        const separator = buffer.slice(boundary).match(/^(\r\n\r\n|\n\n|\r\r)/)[0];
        buffer = buffer.slice(boundary + separator.length);
        const parsed = parseFrame(frame);
        if (parsed) handleEvent(parsed.event, parsed.data, onOpen);
      }
    }
  }

  function parseFrame(frame) {
    let event = "message";
    const data = [];
    for (const line of frame.split(/\r\n|\n|\r/)) {
      if (!line || line.startsWith(":")) continue; // comments are keep-alives
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? "" : line.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (field === "event") event = value;
      else if (field === "data") data.push(value);
    }
    if (data.length === 0 && event === "message") return null;
    return { event, data: data.join("\n") };
  }

  function handleEvent(name, data, onOpen) {
    if (name === "ready") {
      onOpen();
      setLive("live", "live");
      // Whatever happened while the stream was down is fetched again.
      if (currentPage) refreshSoon(currentPage);
      return;
    }
    if (name === "lagged") {
      if (currentPage) refreshSoon(currentPage);
      refreshStatus();
      return;
    }
    let payload = null;
    try {
      payload = JSON.parse(data);
    } catch {
      return;
    }
    eventCount += 1;
    const live = $("#live");
    live.dataset.events = String(eventCount);
    const at = payload.at || new Date().toISOString();
    const last = $("#last-event");
    last.textContent = `${time(at).slice(11)} · ${name}`;
    last.title = at;
    last.dataset.at = at;
    last.dataset.kind = name;
    live.classList.remove("pulse");
    void live.offsetWidth; // restarts the pulse animation
    live.classList.add("pulse");
    for (const page of AFFECTS[name] || []) refreshSoon(page);
    if (name === "risk") refreshStatus();
  }

  // ---------------------------------------------------------------- routing and sign-in

  function route() {
    if (!apiKey) return;
    const match = /^#\/([a-z]+)/.exec(location.hash);
    const name = match && PAGES.includes(match[1]) ? match[1] : "portfolio";
    if (!match || match[1] !== name) {
      history.replaceState(null, "", `#/${name}`);
    }
    if (name !== currentPage && name === "runs") pageState.runs.names = null;
    currentPage = name;
    document.body.dataset.page = name;
    for (const section of document.querySelectorAll("section.page")) {
      section.hidden = section.dataset.page !== name;
    }
    for (const link of document.querySelectorAll("#nav a")) {
      link.classList.toggle("active", link.dataset.nav === name);
      if (link.dataset.nav === name) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
    refreshNow(name);
  }

  function showLogin(message) {
    document.body.dataset.auth = "out";
    $("#shell").hidden = true;
    $("#login").hidden = false;
    const error = $("#login-error");
    error.textContent = message || "";
    error.hidden = !message;
    $("#login-key").value = "";
    $("#login-key").focus();
  }

  function signOut(message) {
    apiKey = null;
    sessionStorage.removeItem(KEY_STORAGE);
    stopStream();
    destroyCharts();
    for (const entry of refreshers.values()) clearTimeout(entry.timer);
    refreshers.clear();
    for (const section of document.querySelectorAll("section.page")) {
      section.replaceChildren();
      delete section.dataset.loaded;
    }
    currentPage = null;
    showLogin(message);
  }

  /** Checks a key with one cheap authenticated call before showing the dashboard. */
  async function signIn(key) {
    apiKey = key;
    try {
      await api("/api/v1/runs?limit=1", { noSignOut: true });
    } catch (error) {
      apiKey = null;
      sessionStorage.removeItem(KEY_STORAGE);
      showLogin(error.status === 401 ? `Key refused: ${error.message}` : `Cannot sign in: ${error.message}`);
      return;
    }
    sessionStorage.setItem(KEY_STORAGE, key);
    document.body.dataset.auth = "in";
    $("#login").hidden = true;
    $("#shell").hidden = false;
    startStream();
    refreshStatus();
    refreshClock();
    route();
  }

  /** `#key=...` signs in and is removed from the address bar (and so from history). */
  function keyFromFragment() {
    const match = /^#key=([^&]*)/.exec(location.hash);
    if (!match) return null;
    history.replaceState(null, "", `${location.pathname}${location.search}#/portfolio`);
    try {
      return decodeURIComponent(match[1]).trim();
    } catch {
      return match[1].trim();
    }
  }

  function start() {
    $("#login-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const key = $("#login-key").value.trim();
      if (key) signIn(key);
    });
    $("#sign-out").addEventListener("click", () => signOut("Signed out."));
    window.addEventListener("hashchange", () => {
      const key = keyFromFragment();
      if (key) signIn(key);
      else route();
    });
    let resizeTimer = null;
    window.addEventListener("resize", () => {
      clearTimeout(resizeTimer);
      resizeTimer = setTimeout(resizeCharts, 150);
    });
    setInterval(() => { if (apiKey) refreshClock(); }, CLOCK_REFRESH_MS);
    setInterval(() => { if (apiKey) tickClock(); }, 1000);
    setInterval(() => { if (apiKey && currentPage && !document.hidden) refreshSoon(currentPage); }, FALLBACK_REFRESH_MS);

    const key = keyFromFragment() || sessionStorage.getItem(KEY_STORAGE);
    if (key) signIn(key);
    else showLogin("");
  }

  if (typeof uPlot === "undefined") {
    document.body.textContent = "The chart library did not load (/assets/uPlot.iife.min.js).";
    return;
  }
  start();
})();
