// nnreg board: the page draws what the server reads from run folders and pushes as they change.
"use strict";

const main = document.getElementById("main");
const liveDot = document.getElementById("live");
const SETS = { training: "#1f77b4", validation: "#ff7f0e", test: "#2ca02c" };
const LAYERS = ["#6a3d9a", "#e66101", "#008837", "#0571b0", "#ca0020", "#8c510a"];
const ZERO = [0, 191, 0];
const selected = new Set();
let leaving = [];
let viewNumber = 0; // which view is on screen: a view whose data arrive after another was opened gives up

// ---- small helpers ------------------------------------------------------------------------

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "text") node.textContent = value;
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) node.append(child);
  }
  return node;
}

function percent(value, digits = 1) {
  if (value === null || value === undefined) return "—";
  const smallest = 10 ** -digits; // in percent: a share too small to show is not shown as 0
  if (value > 0 && 100 * value < smallest / 2) return `<${smallest} %`;
  return `${(100 * value).toFixed(digits)} %`;
}

function breakable(name) {
  // long sweep-cell names may wrap after "_" or "/" instead of inside a word
  return name.replace(/([_/])/g, "$1\u200b");
}

function number(value) {
  if (value === null || value === undefined) return "—";
  if (Array.isArray(value)) return value.map(number).join(",");
  if (typeof value !== "number") return String(value);
  if (value === 0) return "0";
  const size = Math.abs(value);
  return size >= 1e5 || size < 1e-3 ? value.toExponential(2) : String(+value.toPrecision(4));
}

function runLink(name) {
  return `#/run/${encodeURIComponent(name)}`;
}

async function getJSON(url, options) {
  const response = await fetch(url, options);
  const body = await response.json().catch(() => ({ error: response.statusText }));
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body;
}

function setLive(on, text) {
  liveDot.classList.toggle("off", !on);
  liveDot.textContent = text !== undefined ? text : on ? "live" : "reconnecting…";
}

function listen(url, handlers) {
  const source = new EventSource(url);
  source.onopen = () => setLive(true);
  source.onerror = () => setLive(false);
  for (const [event, handler] of Object.entries(handlers)) {
    source.addEventListener(event, (message) => handler(JSON.parse(message.data)));
  }
  leaving.push(() => source.close());
  return source;
}

function badge(status) {
  return el("span", { class: `badge ${status}`, text: status, "data-status": status });
}

function runLabel(run, full = false) {
  const s = run.settings || {};
  const reg = run.regularizer || s.reg || "?";
  const name = full ? run.name : run.name.split("/").pop();
  const missing = [name.includes(reg) ? null : reg, /lmbda|lambda|λ/.test(name) ? null : `λ=${number(s.lmbda)}`].filter(Boolean);
  return missing.length ? `${name} (${missing.join(" ")})` : name;
}

// ---- charts -------------------------------------------------------------------------------

function lineChart(canvas, { y = "", log = false, percentAxis = false, xTitle = "epoch", xLog = false, y2 = null, min, suggestedMax } = {}) {
  const scales = {
    x: {
      type: xLog ? "logarithmic" : "linear",
      title: { display: true, text: xTitle },
      ticks: xLog ? {} : { precision: 0 },
    },
    y: {
      type: log ? "logarithmic" : "linear",
      title: { display: Boolean(y), text: y },
      ticks: percentAxis ? { callback: (v) => `${+v.toPrecision(6)} %` } : {},
      min,
      suggestedMax,
    },
  };
  if (y2) {
    scales.y2 = { type: "linear", position: "right", min: 0, suggestedMax: 1, title: { display: true, text: y2 }, grid: { drawOnChartArea: false }, ticks: { callback: (v) => `${+v.toPrecision(6)} %` } };
  }
  const chart = new Chart(canvas, {
    type: "line",
    data: { datasets: [] },
    options: {
      animation: false,
      maintainAspectRatio: false,
      parsing: false,
      spanGaps: false,
      interaction: { mode: "nearest", intersect: false },
      scales,
      plugins: {
        // in the order the lines were given (a dataset's drawing order would reverse it)
        legend: { position: "bottom", labels: { boxWidth: 22, boxHeight: 2, font: { size: 11 }, sort: (a, b) => a.datasetIndex - b.datasetIndex } },
        tooltip: { callbacks: { label: (c) => `${c.dataset.label}: ${number(c.parsed.y)}` } },
      },
    },
  });
  leaving.push(() => chart.destroy());
  return chart;
}

function series(label, colour, points, extra = {}) {
  const marked = points.length <= 40;
  return {
    label,
    data: points,
    borderColor: colour,
    backgroundColor: colour,
    borderWidth: 1.8,
    pointRadius: points.length <= 3 ? 4 : marked ? 2 : 0,
    pointHoverRadius: 4,
    ...extra,
  };
}

function points(records, value) {
  return records.map((r) => ({ x: r.epoch, y: finiteOrNull(value(r)) }));
}

function finiteOrNull(value) {
  return typeof value === "number" && Number.isFinite(value) ? value : null;
}

function positiveOrNull(value) {
  return typeof value === "number" && value > 0 && Number.isFinite(value) ? value : null;
}

function draw(chart, datasets, lastEpoch) {
  chart.data.datasets = datasets;
  if (lastEpoch) {
    // whole epochs; a single epoch in the middle of an axis one epoch wide
    chart.options.scales.x.min = lastEpoch > 1 ? 1 : 0.5;
    chart.options.scales.x.max = lastEpoch > 1 ? lastEpoch : 1.5;
  }
  chart.update("none");
}

function panel(title, explanation, { wide = false } = {}) {
  const canvas = el("canvas");
  const node = el("section", { class: wide ? "panel wide" : "panel" },
    el("h3", { text: title }), el("p", { text: explanation }), el("div", { class: "plot" }, canvas));
  return { node, canvas };
}

const parts = (records) => Object.keys(SETS).filter((p) => records.some((r) => r[p]));
const layerCount = (records) => Math.max(0, ...records.map((r) => (r.weights?.layers || []).length));

const RUN_CHARTS = [
  {
    title: "Cost, split",
    text: "Data cost C₀ per data set (solid) and the penalty (dashed; the same for every set): a growing total cost can be the penalty growing while C₀ falls.",
    options: { y: "cost", log: false },
    datasets: (records) => [
      ...parts(records).map((p) => series(`C₀ ${p}`, SETS[p], points(records, (r) => r[p]?.data_cost))),
      series("penalty", "#444", points(records, (r) => r.training?.penalty ?? r.validation?.penalty), { borderDash: [6, 4] }),
    ],
  },
  {
    title: "Accuracy",
    text: "Fraction classified correctly, per data set.",
    options: { y: "accuracy", percentAxis: true },
    datasets: (records) => parts(records).map((p) => series(p, SETS[p], points(records, (r) => 100 * r[p]?.accuracy))),
  },
  {
    title: "Weight size per layer",
    text: "RMS of each layer's weights (solid) against 1/√n_in, the RMS the default initializer gives it (dotted); all weights in black, against 1/√N (N weights), the scale near which the book's L2 decay tails off.",
    options: { y: "RMS (log scale)", log: true },
    datasets: (records) => {
      const list = [];
      for (let i = 0; i < layerCount(records); i++) {
        const colour = LAYERS[i % LAYERS.length];
        list.push(series(`layer ${i + 1}`, colour, points(records, (r) => positiveOrNull(r.weights?.layers?.[i]?.rms))));
        list.push(series(`1/√n_in, layer ${i + 1}`, colour, points(records, (r) => r.weights?.layers?.[i]?.reference_rms), { borderDash: [2, 3], pointRadius: records.length === 1 ? 3 : 0, pointStyle: "line" }));
      }
      list.push(series("all weights", "#222", points(records, (r) => positiveOrNull(r.weights?.rms))));
      list.push(series("1/√N", "#222", points(records, (r) => r.weights?.reference_rms), { borderDash: [2, 3], pointRadius: records.length === 1 ? 3 : 0, pointStyle: "line" }));
      return list;
    },
  },
  {
    title: "Exact zeros",
    text: "Share of each layer's weights that are exactly 0 (L1's proximal and cumulative rules make them; the subgradient rule and L2 do not).",
    options: { y: "weights = 0", percentAxis: true, min: 0, suggestedMax: 1 },
    datasets: (records) => [
      ...Array.from({ length: layerCount(records) }, (_, i) =>
        series(`layer ${i + 1}`, LAYERS[i % LAYERS.length], points(records, (r) => 100 * r.weights?.layers?.[i]?.fraction_zero))),
      series("all weights", "#222", points(records, (r) => 100 * r.weights?.fraction_zero)),
    ],
  },
  {
    title: "Sign flips",
    text: "Weights whose sign changed during the epoch: L1's subgradient rule keeps flipping small weights across 0.",
    options: { y: "weights per epoch", min: 0, suggestedMax: 1 },
    datasets: (records) => Array.from({ length: layerCount(records) }, (_, i) =>
      series(`layer ${i + 1}`, LAYERS[i % LAYERS.length], points(records, (r) => r.weights?.layers?.[i]?.sign_flips))),
  },
  {
    title: "Gradient share",
    text: "Norm of the penalty's gradient ÷ norm of the data cost's gradient, per layer, measured on the epoch's first mini-batches: how hard the regularizer pulls next to the data.",
    options: { y: "ratio (log scale)", log: true },
    datasets: (records) => {
      const count = Math.max(0, ...records.map((r) => (r.gradient_share || []).length));
      return Array.from({ length: count }, (_, i) =>
        series(`layer ${i + 1}`, LAYERS[i % LAYERS.length], points(records, (r) => positiveOrNull(r.gradient_share?.[i]?.ratio))));
    },
  },
];

// ---- the weights: first layer as images, histograms -------------------------------------

const RDBU = ["#053061", "#2166ac", "#4393c3", "#92c5de", "#d1e5f0", "#f7f7f7", "#fddbc7", "#f4a582", "#d6604d", "#b2182b", "#67001f"]
  .map((hex) => [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16)));

function colourOf(value, largest) {
  if (value === 0) return ZERO;
  if (!Number.isFinite(value)) return [0, 0, 0];
  const t = Math.min(1, Math.max(0, (value / largest + 1) / 2)) * (RDBU.length - 1);
  const i = Math.min(RDBU.length - 2, Math.floor(t));
  const f = t - i;
  return RDBU[i].map((c, k) => Math.round(c + f * (RDBU[i + 1][k] - c)));
}

function decodeFloat32(text) {
  const bytes = Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
  return new Float32Array(bytes.buffer);
}

function drawTiles(canvas, first) {
  const values = decodeFloat32(first.values);
  const [height, width] = first.image;
  const units = first.units;
  const columns = height > 1 ? Math.ceil(Math.sqrt(units)) : 1;
  const rows = Math.ceil(units / columns);
  const largest = colourScale(values);
  // every unit's image side by side at one pixel per weight, then each scaled into its tile
  const strip = new ImageData(width * units, height);
  for (let u = 0; u < units; u++) {
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const colour = colourOf(values[u * first.inputs + y * width + x], largest);
        strip.data.set([...colour, 255], 4 * (y * width * units + u * width + x));
      }
    }
  }
  const source = el("canvas", { width: width * units, height });
  source.getContext("2d").putImageData(strip, 0, 0);
  const gap = 3;
  const scale = Math.max(1, Math.min(10, Math.floor((640 - gap * columns) / (columns * width))));
  const tileHeight = Math.max(scale * height, height > 1 ? 0 : 6);
  canvas.width = columns * (scale * width + gap) - gap;
  canvas.height = rows * (tileHeight + gap) - gap;
  const context = canvas.getContext("2d");
  context.fillStyle = "#b8b8b8";
  context.fillRect(0, 0, canvas.width, canvas.height);
  context.imageSmoothingEnabled = false;
  for (let u = 0; u < units; u++) {
    const left = (u % columns) * (scale * width + gap);
    const top = Math.floor(u / columns) * (tileHeight + gap);
    context.drawImage(source, u * width, 0, width, height, left, top, scale * width, tileHeight);
  }
  return largest;
}

const CLIPPED = 0.01;

function colourScale(values) {
  // the 99th percentile of |w| ≠ 0: a few large weights would leave every other one pale
  const sizes = Array.from(values, Math.abs).filter((v) => v > 0 && Number.isFinite(v)).sort((a, b) => a - b);
  if (!sizes.length) return 1;
  return sizes[Math.min(sizes.length - 1, Math.floor((1 - CLIPPED) * sizes.length))];
}

function colourBar(largest, zeros, total) {
  const bar = el("canvas", { class: "bar", width: 180, height: 12 });
  const context = bar.getContext("2d");
  for (let x = 0; x < 180; x++) {
    context.fillStyle = `rgb(${colourOf(((x + 0.5) / 180) * 2 * largest - largest, largest).join(",")})`;
    context.fillRect(x, 0, 1, 12);
  }
  return el("div", { class: "colourbar" },
    el("span", { text: "colour: weight, one scale for all units" }),
    el("span", { text: `(the largest ${100 * CLIPPED} % of |w| at full colour)` }),
    bar,
    el("div", { class: "ends" }, el("span", { text: number(-largest) }), el("span", { text: "0" }), el("span", { text: number(largest) })),
    el("span", {}, el("i", { class: "swatch", style: `background: rgb(${ZERO.join(",")})` }),
      `exactly 0: ${zeros} of ${total} (${percent(zeros / total)})`));
}

function histogram(canvas, layer, index) {
  const centres = layer.edges.slice(0, -1).map((e, i) => (e + layer.edges[i + 1]) / 2);
  const middle = Math.floor(layer.counts.length / 2);
  const zeros = layer.counts.map((_, i) => (i === middle ? layer.zeros : 0));
  const chart = new Chart(canvas, {
    type: "bar",
    data: {
      labels: centres.map((c) => number(c)),
      datasets: [
        { label: "weights ≠ 0", data: layer.counts, backgroundColor: LAYERS[index % LAYERS.length], barPercentage: 1, categoryPercentage: 1 },
        { label: "exactly 0", data: zeros, backgroundColor: `rgb(${ZERO.join(",")})`, barPercentage: 1, categoryPercentage: 1 },
      ],
    },
    options: {
      animation: false,
      maintainAspectRatio: false,
      scales: {
        x: {
          stacked: true,
          title: { display: true, text: "weight (bin centres; the middle bin holds 0)" },
          ticks: {
            autoSkip: false,
            maxRotation: 0,
            // 0 and a few round bin centres; the exact zeros sit on the middle bin
            callback: (value, i) => (i === middle ? "0" : i % 10 === 0 ? number(+centres[i].toPrecision(2)) : ""),
          },
        },
        y: { stacked: true, title: { display: true, text: "count" } },
      },
      plugins: { legend: { position: "bottom", labels: { boxWidth: 12, font: { size: 11 } } } },
    },
  });
  leaving.push(() => chart.destroy());
  return chart;
}

function weightsSection(name, keepsEvery) {
  const slider = el("input", { type: "range", min: 0, max: 0, value: 0, step: 1, "aria-label": "epoch" });
  const label = el("strong", { text: "" });
  const kept = el("span", { class: "muted" });
  const tiles = el("canvas", { class: "tiles" });
  const bar = el("div");
  const histograms = el("div", { class: "charts" });
  const message = el("p", { class: "hint" });
  const node = el("section", { class: "panel wide", id: "weights" },
    el("h3", { text: "Weights at an epoch" }),
    el("p", { text: "First layer: one tile per hidden unit, its input weights as an image (red > 0, blue < 0, green exactly 0). Below: each layer's weights as a histogram, the exact zeros stacked in green on the middle bin (click “exactly 0” to leave them out)." }),
    el("div", { class: "weights-head" }, el("span", { text: "epoch" }), slider, label, kept),
    message,
    el("div", { class: "tiles-row" }, tiles, bar),
    histograms);
  let epochs = [];
  let charts = [];
  let shown = null;

  async function load(epoch) {
    let data;
    try {
      data = await getJSON(`/api/weights?run=${encodeURIComponent(name)}${epoch === undefined ? "" : `&epoch=${epoch}`}`);
    } catch (error) {
      message.textContent = `No weights to show yet (${error.message}).`;
      return;
    }
    if (!data.epochs.length) {
      message.textContent = "No weights kept yet: they appear once the run has started training.";
      return;
    }
    message.textContent = keepsEvery()
      ? ""
      : `This run kept the weights of epoch${data.epochs.length > 1 ? "s" : ""} ${data.epochs.join(" and ")} only; runs started here (or with nnreg train --snapshots) keep every epoch's.`;
    epochs = data.epochs;
    slider.max = epochs.length - 1;
    slider.value = epochs.indexOf(data.epoch);
    label.textContent = String(data.epoch);
    kept.textContent = `(kept: ${keptEpochs(epochs)})`;
    shown = data.epoch;
    const largest = drawTiles(tiles, data.first_layer);
    const first = data.layers[0];
    const total = first.shape[0] * first.shape[1];
    bar.replaceChildren(colourBar(largest, first.zeros, total));
    charts.forEach((c) => c.destroy());
    charts = [];
    histograms.replaceChildren();
    data.layers.forEach((layer, i) => {
      const count = layer.shape[0] * layer.shape[1];
      const p = panel(`Layer ${i + 1}: ${layer.shape[1]} → ${layer.shape[0]} units`,
        `${count} weights; exactly 0: ${layer.zeros} (${percent(layer.zeros / count)})${layer.not_finite ? `; not finite: ${layer.not_finite}` : ""}`);
      histograms.append(p.node);
      charts.push(histogram(p.canvas, layer, i));
    });
  }

  slider.addEventListener("input", () => {
    label.textContent = String(epochs[slider.value]);
  });
  slider.addEventListener("change", () => load(epochs[slider.value]));
  return {
    node,
    load,
    // a new epoch arrived: follow it when the latest epoch is shown (or nothing yet)
    refresh: () => {
      if (shown === null || shown === epochs[epochs.length - 1]) load();
    },
  };
}

function keptEpochs(epochs) {
  const contiguous = epochs.every((e, i) => i === 0 || e === epochs[i - 1] + 1);
  return contiguous && epochs.length > 2 ? `epochs ${epochs[0]}–${epochs[epochs.length - 1]}` : `epoch${epochs.length > 1 ? "s" : ""} ${epochs.join(", ")}`;
}

// ---- views --------------------------------------------------------------------------------

function showRuns() {
  const body = el("tbody");
  const compare = el("button", { class: "primary", onclick: () => { location.hash = `#/compare?runs=${[...selected].map(encodeURIComponent).join(",")}`; } });
  const table = el("table", { class: "runs" },
    el("thead", {}, el("tr", {},
      el("th", {}), el("th", { text: "Run" }), el("th", { text: "Status" }), el("th", { text: "Data" }),
      el("th", { text: "Sizes" }), el("th", { text: "Regularizer" }), el("th", { class: "number", text: "λ" }),
      el("th", { class: "number", text: "η" }), el("th", { class: "number", text: "m" }),
      el("th", { class: "number", text: "Epoch" }), el("th", { class: "number", text: "Validation" }),
      el("th", { class: "number", text: "Test" }), el("th", { class: "number", text: "Zero weights" }))),
    body);
  const empty = el("div", { class: "empty" });
  const updateCompare = () => {
    compare.textContent = `Compare selected (${selected.size})`;
    compare.disabled = selected.size < 2;
  };
  main.replaceChildren(
    el("h1", { text: "Runs" }),
    el("p", { class: "hint", text: "Every run folder under the board's folder, sweeps' cells included; new runs and new epochs appear by themselves. Accuracies are the last epoch's." }),
    el("div", { class: "toolbar" }, compare, el("a", { class: "button", href: "#/new", text: "New run…" })),
    el("div", { class: "table-scroll" }, table), empty);
  updateCompare();

  function row(run) {
    const box = el("input", { type: "checkbox", "aria-label": `select ${run.name}`, checked: selected.has(run.name) });
    box.addEventListener("change", () => {
      if (box.checked) selected.add(run.name);
      else selected.delete(run.name);
      updateCompare();
    });
    const s = run.settings || {};
    const shownName = run.sweep ? run.name.slice(run.sweep.length + 1).replace(/^cells\//, "") : run.name;
    return el("tr", { "data-run": run.name },
      el("td", {}, box),
      el("td", { class: "name" }, el("a", { href: runLink(run.name), text: breakable(shownName), title: run.name })),
      el("td", {}, badge(run.status)),
      el("td", { text: s.data ?? "—" }),
      el("td", { text: s.sizes ? s.sizes.join("·") : "—" }),
      el("td", { text: run.regularizer ?? s.reg ?? "—" }),
      el("td", { class: "number", text: number(s.lmbda) }),
      el("td", { class: "number", text: number(s.eta) }),
      el("td", { class: "number", text: number(s.batch_size) }),
      el("td", { class: "number", text: run.epochs ? `${run.epoch} / ${run.epochs}` : String(run.epoch) }),
      el("td", { class: "number", text: percent(run.validation_accuracy) }),
      el("td", { class: "number", text: percent(run.test_accuracy) }),
      el("td", { class: "number", text: percent(run.fraction_zero) }));
  }

  function render(runs) {
    const names = new Set(runs.map((r) => r.name));
    for (const name of [...selected]) if (!names.has(name)) selected.delete(name);
    updateCompare();
    const rows = [];
    const sweepsShown = new Set();
    for (const run of runs) {
      if (!run.sweep) {
        rows.push(row(run));
        continue;
      }
      if (sweepsShown.has(run.sweep)) continue;
      sweepsShown.add(run.sweep);
      const cells = runs.filter((r) => r.sweep === run.sweep).sort(byRegularizerAndLambda);
      const pick = el("button", { class: "small", text: "select all", onclick: () => { cells.forEach((c) => selected.add(c.name)); render(runs); } });
      const compareCells = el("a", { class: "button small", href: `#/compare?runs=${cells.map((c) => encodeURIComponent(c.name)).join(",")}`, text: "compare its cells" });
      rows.push(el("tr", { class: "sweep" }, el("td", {}), el("td", { colspan: 12 }, `Sweep “${run.sweep}” · ${cells.length} cells `, pick, " ", compareCells)));
      cells.forEach((cell) => rows.push(row(cell)));
    }
    body.replaceChildren(...rows);
    table.hidden = runs.length === 0;
    empty.hidden = runs.length > 0;
    empty.replaceChildren("No runs here yet. Start one with ", el("a", { href: "#/new", text: "New run" }),
      ", or in a terminal: ", el("code", { text: "nnreg train --out RUNS_DIR/my-run" }), " — it shows up here as it trains.");
  }

  listen("/api/events", { runs: render });
}

async function showRun(name, view) {
  let run;
  try {
    run = await getJSON(`/api/run?run=${encodeURIComponent(name)}`);
  } catch (error) {
    if (view !== viewNumber) return;
    main.replaceChildren(el("h1", { text: "No such run" }), el("p", { class: "error", text: error.message }), el("a", { href: "#/", text: "← all runs" }));
    return;
  }
  if (view !== viewNumber) return; // another view was opened meanwhile
  const records = run.records;
  const status = el("span");
  const progress = el("span", { class: "muted" });
  const stop = el("button", { class: "danger", text: "Stop", onclick: () => act("stop") });
  const resume = el("button", { class: "primary", text: "Resume", onclick: () => act("resume") });
  const problem = el("div", { class: "error", hidden: true, role: "alert" });
  const note = el("div", { class: "note", hidden: true });
  const settings = el("div", { class: "settings" });
  const charts = el("div", { class: "charts" });
  const waiting = el("p", { class: "hint" });
  let info = run;
  const weights = weightsSection(name, () => info.snapshots);
  const again = el("p", { hidden: true }, el("a", { class: "plain", href: "#/new", text: "Start a new run…" }));
  main.replaceChildren(
    el("p", {}, el("a", { class: "back", href: "#/", text: "← all runs" })),
    el("h1", {}, el("span", { text: name }), status, progress),
    settings,
    el("div", { class: "toolbar" }, stop, resume),
    problem, again, note, waiting, charts, weights.node);

  let config = run.config || {};
  let total = run.epochs || 0;
  function showSettings() {
    const s = config.settings || {};
    const items = [
      ["data", s.data], ["sizes", s.sizes ? s.sizes.join(", ") : null], ["activation", s.activation],
      ["cost", s.cost], ["regularizer", s.reg ?? config.regularizer?.name], ["λ", s.lmbda === undefined ? null : number(s.lmbda)],
      ["n", config.training_set_size === undefined ? null : `${config.training_set_size} (λ/n)`], ["η", s.eta === undefined ? null : number(s.eta)], ["m", s.batch_size],
      ["momentum", s.momentum ? number(s.momentum) : null], ["seed", s.seed],
    ].filter(([, v]) => v !== null && v !== undefined);
    settings.replaceChildren(...items.map(([k, v]) => el("span", {}, `${k} `, el("b", { text: String(v) }))));
  }
  showSettings();

  const drawn = RUN_CHARTS.map((spec) => {
    const p = panel(spec.title, spec.text);
    charts.append(p.node);
    return { spec, chart: lineChart(p.canvas, spec.options) };
  });
  const redraw = () => {
    const going = info.status === "running" || info.status === "starting";
    // a run still going: its whole planned length; else the epochs it has
    const last = Math.max(going ? total : 0, ...records.map((r) => r.epoch));
    drawn.forEach(({ spec, chart }) => draw(chart, spec.datasets(records), last));
    waiting.textContent = records.length || !going ? "" : "Waiting for the first epoch to end…";
    charts.hidden = weights.node.hidden = !records.length && !going;
  };

  async function update(latest) {
    const redrawn = latest.status !== info.status;
    info = latest;
    if (!config.settings && info.settings?.data) {
      // the run wrote its settings after the page was opened (it was starting)
      config = (await getJSON(`/api/run?run=${encodeURIComponent(name)}`).catch(() => ({}))).config || {};
      showSettings();
    }
    total = info.epochs || total;
    status.replaceChildren(badge(info.status));
    const going = info.status === "running" || info.status === "starting";
    progress.textContent = !info.epoch && !going ? "" : info.epochs ? `epoch ${info.epoch} / ${info.epochs}` : `epoch ${info.epoch}`;
    progress.dataset.epoch = info.epoch;
    stop.hidden = !(info.launched && (info.status === "running" || info.status === "starting"));
    if (redrawn) stop.disabled = false;
    resume.hidden = info.status !== "interrupted";
    if (stop.hidden) stop.textContent = "Stop";
    problem.hidden = !info.error || info.status === "interrupted";
    problem.textContent = info.error || "";
    again.hidden = info.status !== "failed" && info.status !== "diverged";
    if (info.status === "interrupted") {
      note.hidden = false;
      note.textContent = info.checkpoint && info.epoch > 0
        ? `Interrupted with a checkpoint after epoch ${info.epoch}: Resume continues from it, and ends exactly as an uninterrupted run would.`
        : "Stopped before its first epoch ended: Resume starts it again from its initial weights (the same result).";
    } else if (info.status === "running" && !info.launched) {
      note.hidden = false;
      note.textContent = "Training in another process (a terminal, a sweep): stop it there.";
    } else {
      note.hidden = true;
    }
    if (redrawn) redraw();
  }

  async function act(what) {
    // disabled until the server answers; a stopping run keeps “Stopping…” until its status changes
    stop.disabled = resume.disabled = true;
    try {
      await getJSON(`/api/${what}`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ run: name }) });
      if (what === "stop") stop.textContent = "Stopping…";
    } catch (error) {
      problem.hidden = false;
      problem.textContent = error.message;
      stop.disabled = false;
    } finally {
      resume.disabled = false;
    }
  }

  update(run);
  redraw();
  weights.load();
  listen(`/api/run/events?run=${encodeURIComponent(name)}&from=${records.length}`, {
    metrics: (message) => {
      records.splice(message.from, records.length - message.from, ...message.records);
      redraw();
      weights.refresh();
    },
    run: update,
  });
}

async function showCompare(names, view) {
  main.replaceChildren(el("p", {}, el("a", { class: "back", href: "#/", text: "← all runs" })), el("h1", { text: "Compare runs" }));
  if (names.length < 2) {
    main.append(el("div", { class: "empty" }, "Tick two or more runs on the ", el("a", { href: "#/", text: "Runs" }),
      " page (a sweep's “select all” takes its cells) and press Compare."));
    return;
  }
  const runs = [];
  const problems = [];
  for (const name of names) {
    try {
      runs.push(await getJSON(`/api/run?run=${encodeURIComponent(name)}`));
    } catch (error) {
      problems.push(el("p", { class: "error", text: `${name}: ${error.message}` }));
    }
    if (view !== viewNumber) return; // another view was opened meanwhile
  }
  main.append(...problems);
  runs.sort(byRegularizerAndLambda);
  const colours = runColours(runs);
  const labels = runs.map((r) => r.name);
  const short = uniqueLabels(runs);
  const chips = el("div", { class: "chips" });
  const showChips = () => chips.replaceChildren(...runs.map((r, i) =>
    el("a", { class: "chip", href: runLink(r.name) }, el("i", { style: `background:${colours[i]}` }), el("span", { text: breakable(short[i]) }), badge(r.status))));
  showChips();
  main.append(chips);
  const charts = el("div", { class: "charts" });
  main.append(charts);
  const part = (r) => (r.records.some((x) => x.validation) ? "validation" : "test");
  const specs = [
    ["Accuracy", "On the validation data (the test data where a run has none).", { y: "accuracy", percentAxis: true }, (r) => (x) => 100 * x[part(r)]?.accuracy],
    ["Data cost C₀", "On the validation data: the penalty left out, so runs with different λ compare fairly.", { y: "C₀" }, (r) => (x) => x[part(r)]?.data_cost],
    ["Penalty", "The regularization term of the cost (its own λ and n in each run).", { y: "penalty" }, () => (x) => x.training?.penalty],
    ["Weight size", "RMS of all weights (log scale).", { y: "RMS", log: true }, () => (x) => positiveOrNull(x.weights?.rms)],
    ["Exact zeros", "Share of all weights that are exactly 0.", { y: "weights = 0", percentAxis: true, min: 0, suggestedMax: 1 }, () => (x) => 100 * x.weights?.fraction_zero],
    ["Sign flips", "Weights whose sign changed during the epoch, all layers.", { y: "weights per epoch", min: 0, suggestedMax: 1 }, () => (x) => x.weights?.sign_flips],
  ];
  const drawn = specs.map(([title, text, options, value]) => {
    const p = panel(title, text);
    charts.append(p.node);
    const chart = lineChart(p.canvas, options);
    chart.options.plugins.legend.display = runs.length <= 6; // else the chips above say which colour is which
    return { chart, value };
  });
  const lambdaPanel = panel("Against λ", "Each run's last epoch: accuracy (solid, left axis) and exact zeros (dashed, right axis), per regularizer.", { wide: true });
  let lambdaChart = null;
  const redraw = () => {
    const going = (r) => r.status === "running" || r.status === "starting";
    const last = Math.max(...runs.map((r) => Math.max(going(r) ? r.epochs || 0 : 0, ...r.records.map((x) => x.epoch))));
    // earlier runs wider and drawn underneath (a higher order is drawn first), so a run whose
    // line lies exactly on another's still shows as a rim around it
    const width = (i) => Math.max(1.5, 4.5 - (3 * i) / Math.max(1, runs.length - 1));
    drawn.forEach(({ chart, value }) =>
      draw(chart, runs.map((r, i) => series(short[i], colours[i], points(r.records, value(r)), { borderWidth: width(i), order: runs.length - i })), last));
    const lambdas = new Set(runs.map((r) => JSON.stringify(r.settings?.lmbda)));
    if (lambdas.size >= 2 && runs.every((r) => typeof r.settings?.lmbda === "number")) {
      if (!lambdaChart) {
        charts.prepend(lambdaPanel.node);
        const xLog = runs.every((r) => r.settings.lmbda > 0);
        lambdaChart = lineChart(lambdaPanel.canvas, { y: "accuracy", percentAxis: true, xTitle: xLog ? "λ (log scale)" : "λ", xLog, y2: "weights = 0" });
        // a tick at every λ of these runs, and none between
        const values = [...new Set(runs.map((r) => r.settings.lmbda))].sort((a, b) => a - b);
        lambdaChart.options.scales.x.afterBuildTicks = (axis) => { axis.ticks = values.map((value) => ({ value })); };
        lambdaChart.options.scales.x.ticks = { callback: (value) => number(value), autoSkip: false, maxRotation: 0 };
        const span = xLog ? [values[0] / 1.5, values[values.length - 1] * 1.5] : [values[0], values[values.length - 1]];
        [lambdaChart.options.scales.x.min, lambdaChart.options.scales.x.max] = span;
      }
      draw(lambdaChart, lambdaSeries(runs, part, colours));
    }
  };
  redraw();
  runs.forEach((r, i) => {
    listen(`/api/run/events?run=${encodeURIComponent(labels[i])}&from=${r.records.length}`, {
      metrics: (message) => {
        r.records.splice(message.from, r.records.length - message.from, ...message.records);
        redraw();
      },
      run: (info) => {
        const changed = info.status !== r.status;
        Object.assign(r, info, { records: r.records });
        if (changed) showChips();
      },
    });
  });
}

function uniqueLabels(runs) {
  const labels = runs.map((r) => runLabel(r));
  return labels.map((label, i) => (labels.indexOf(label) === labels.lastIndexOf(label) ? label : runLabel(runs[i], true)));
}

function byRegularizerAndLambda(a, b) {
  const reg = (r) => r.regularizer || r.settings?.reg || "";
  const lambda = (r) => (typeof r.settings?.lmbda === "number" ? r.settings.lmbda : 0);
  return reg(a).localeCompare(reg(b)) || lambda(a) - lambda(b) || a.name.localeCompare(b.name);
}

function lambdaSeries(runs, part, colours) {
  const groups = {};
  runs.forEach((r, i) => {
    const last = r.records[r.records.length - 1];
    if (!last) return;
    const reg = r.regularizer || r.settings?.reg || "?";
    groups[reg] ||= { colour: colours.group[reg], rows: [] };
    groups[reg].rows.push({ x: r.settings.lmbda, accuracy: 100 * last[part(r)]?.accuracy, zero: 100 * last.weights?.fraction_zero });
  });
  const list = [];
  for (const [reg, { colour, rows }] of Object.entries(groups)) {
    rows.sort((a, b) => a.x - b.x);
    list.push(series(`${reg}: accuracy`, colour, rows.map((p) => ({ x: p.x, y: finiteOrNull(p.accuracy) })), { pointRadius: 4 }));
    list.push(series(`${reg}: zeros`, colour, rows.map((p) => ({ x: p.x, y: finiteOrNull(p.zero) })), { yAxisID: "y2", borderDash: [6, 4], pointRadius: 4, pointStyle: "rectRot" }));
  }
  return list;
}

// one hue per regularizer, from dark to light along λ, so a sweep's colours read at a glance
const HUES = [
  ["#08306b", "#08519c", "#2171b5", "#4292c6", "#6baed6", "#9ecae1"],
  ["#7f2704", "#a63603", "#d94801", "#f16913", "#fd8d3c", "#fdae6b"],
  ["#00441b", "#006d2c", "#238b45", "#41ab5d", "#74c476", "#a1d99b"],
  ["#3f007d", "#54278f", "#6a51a3", "#807dba", "#9e9ac8", "#bcbddc"],
  ["#67000d", "#a50f15", "#cb181d", "#ef3b2c", "#fb6a4a", "#fc9272"],
  ["#252525", "#404040", "#636363", "#828282", "#969696", "#bdbdbd"],
];

function runColours(runs) {
  const regs = [...new Set(runs.map((r) => r.regularizer || r.settings?.reg || "?"))];
  const colours = runs.map((r) => {
    const reg = r.regularizer || r.settings?.reg || "?";
    const hue = HUES[regs.indexOf(reg) % HUES.length];
    const group = runs.filter((x) => (x.regularizer || x.settings?.reg || "?") === reg);
    const k = group.indexOf(r);
    // one run of a kind: the hue's middle; several: spread over its shades
    const shade = group.length === 1 ? 2 : Math.round((k * (hue.length - 1)) / (group.length - 1));
    return hue[Math.min(hue.length - 1, shade)];
  });
  colours.group = Object.fromEntries(regs.map((reg, i) => [reg, HUES[i % HUES.length][2]]));
  return colours;
}

async function showNew(view) {
  main.replaceChildren(el("h1", { text: "New run" }));
  let options;
  try {
    options = await getJSON("/api/options");
  } catch (error) {
    if (view === viewNumber) main.append(el("p", { class: "error", text: error.message }));
    return;
  }
  if (view !== viewNumber) return; // another view was opened meanwhile
  const d = options.defaults;
  const choice = (name, values, value) => el("select", { name }, values.map((v) => el("option", { value: v, text: v, selected: v === value })));
  const field = (label, input, help) => el("label", {}, label, input, help ? el("small", { text: help }) : null);
  const input = (name, value, extra = {}) => el("input", { name, value: value ?? "", ...extra });
  const error = el("div", { class: "error", hidden: true, role: "alert" });
  const submit = el("button", { class: "primary", type: "submit", text: "Start training" });
  const form = el("form", { class: "play", novalidate: true },
    el("div", { class: "fields" },
      field("Data", choice("data", options.data, d.data), "digits: 8×8, offline; MNIST is downloaded once"),
      field("Sizes", input("sizes", "", { placeholder: "e.g. 64,100,10" }), "units per layer, input first; empty: inputs,30,classes"),
      field("Hidden activation", choice("activation", options.activation, d.activation)),
      field("Regularizer", choice("reg", options.reg, d.reg), "l1 is the book's subgradient rule"),
      field("λ", input("lmbda", d.lmbda), "divided by n, the training-set size"),
      field("η", input("eta", d.eta), "learning rate"),
      field("Mini-batch size m", input("batch_size", d.batch_size)),
      field("Epochs", input("epochs", d.epochs)),
      field("Seed", input("seed", d.seed)),
      field("Run folder name", input("name", "", { placeholder: "e.g. l1-lmbda5" }), "a new folder under the board's folder; empty: date-time-regularizer")),
    el("div", { class: "actions" }, submit, el("span", { class: "muted", text: `Runs nnreg train --snapshots in its own process (${options.running.length} of at most ${options.max_running} going now).` })),
    error);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    submit.disabled = true;
    const values = Object.fromEntries(new FormData(form).entries());
    form.querySelectorAll(".invalid").forEach((node) => node.classList.remove("invalid"));
    try {
      const started = await getJSON("/api/runs", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(values) });
      location.hash = runLink(started.run);
    } catch (problem) {
      error.hidden = false;
      error.textContent = problem.message;
      // mark the field the message names (as nnreg train names its option)
      const option = /'?--([a-z-]+)'?|'(name)'/.exec(problem.message);
      const field = option && form.querySelector(`[name="${(option[1] || option[2]).replace("-", "_")}"]`);
      if (field) {
        field.classList.add("invalid");
        field.focus();
      }
    } finally {
      submit.disabled = false;
    }
  });
  main.append(el("p", { class: "hint", text: "The same engine and checks as nnreg train; the run appears in the list and can be stopped (with a checkpoint) and resumed." }), form);
}

// ---- routing ------------------------------------------------------------------------------

function route() {
  leaving.forEach((close) => close());
  leaving = [];
  const view = ++viewNumber;
  setLive(false, "connecting…");
  const hash = location.hash || "#/";
  const [path, query] = hash.slice(1).split("?");
  const tab = path.startsWith("/run/") ? "runs" : path.slice(1) || "runs";
  document.querySelectorAll("header nav a").forEach((a) => a.classList.toggle("active", a.dataset.view === tab));
  if (path.startsWith("/run/")) return showRun(decodeURIComponent(path.slice(5)), view);
  if (path === "/compare") {
    const given = (query || "").startsWith("runs=") ? query.slice(5).split(",").filter(Boolean) : [];
    const list = given.length ? given.map(decodeURIComponent) : [...selected];
    return showCompare(list, view);
  }
  if (path === "/new") {
    setLive(false, "");
    return showNew(view);
  }
  return showRuns();
}

window.addEventListener("hashchange", route);
route();
