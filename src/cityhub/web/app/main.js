// The dashboard's shell: the views (a later issue registers its own in VIEWS), the layer
// list and legend, the live stream, and the entity panel.
import * as api from "./api.js";
import { renderCatalogue } from "./catalogue.js";
import { INDICATORS, colorFor, computeIndicator, paintChoropleth } from "./districts.js";
import { currentLang, onLangChange, setLang, t, translate } from "./i18n.js";
import { BASE_LAYERS, SENSOR_LAYERS } from "./layers.js";
import { applyChanges, createMap, drawCity, fetchCity, interactiveLayers, maplibregl, setVisible, sourceOf } from "./map.js";
import { EntityPanel } from "./panel.js";

// What tests and the benchmark read (window.cityhub): the map, the entities, live figures.
const state = { map: null, entities: new Map(), ready: false, live: false, received: 0,
  events: 0, view: "map", indicator: "pm25", districtValues: {}, loadMs: null,
  marks: {} };
window.cityhub = state;

/** The views, in the order of the tabs. Safety, digital twin and forecasts add theirs here. */
const VIEWS = [
  { id: "map", map: true, side: renderLayers },
  { id: "districts", map: true, side: renderDistricts },
  { id: "catalogue", map: false, page: renderCatalogue },
];

const $ = (sel) => document.querySelector(sel);
/** The time since the navigation at a step of the start (window.cityhub.marks, in ms). */
function mark(name) {
  state.marks[name] = Math.round(performance.now());
  return state.marks[name];
}
const side = $("#side");
const page = $("#page");
const hidden = new Set(JSON.parse(localStorage.getItem("cityhub.hidden") || '["buildings"]'));

function setStatus() {
  const parts = [state.ready ? t("loaded", { n: state.entities.size.toLocaleString() }) : t("loading")];
  if (state.ready) parts.push(state.live ? `● ${t("live")} · ${t("updates", { n: state.received.toLocaleString() })}` : t("offline"));
  $("#status").textContent = parts.join(" · ");
  $("#status").dataset.live = String(state.live);
}

function renderTabs() {
  $("#views").innerHTML = VIEWS.map((v) =>
    `<button type="button" role="tab" data-view="${v.id}" aria-selected="${v.id === state.view}" data-i18n="view.${v.id}"></button>`).join("");
  for (const b of $("#views").querySelectorAll("button")) b.addEventListener("click", () => show(b.dataset.view));
  translate($("#views"));
}

async function show(viewId) {
  state.view = viewId;
  const view = VIEWS.find((v) => v.id === viewId);
  for (const b of $("#views").querySelectorAll("button")) b.setAttribute("aria-selected", String(b.dataset.view === viewId));
  $("#map").hidden = !view.map;
  page.hidden = view.map;
  side.hidden = !view.side;
  if (view.side) view.side();
  if (view.page) await view.page(page);
  if (view.map && state.map) {
    state.map.resize();
    const choropleth = viewId === "districts";
    paintChoropleth(state.map, state.districtValues, choropleth ? state.indicator : null);
    // the district view shows the districts and the roads only, with a label per district
    if (state.ready) {
      for (const id of [...SENSOR_LAYERS.map((s) => s.id), "facilities", "buildings"]) {
        setVisible(state.map, id, !choropleth && !hidden.has(id));
      }
    }
    for (const m of districtLabels.values()) m.getElement().hidden = !choropleth;
  }
}

const districtLabels = new Map();
function labelDistricts() {
  const spec = INDICATORS[state.indicator];
  for (const [id, v] of Object.entries(state.districtValues)) {
    const e = state.entities.get(id);
    if (!districtLabels.has(id) && e && e.location) {
      let ring = e.location.coordinates;
      while (Array.isArray(ring[0][0])) ring = ring[0];
      const c = ring.reduce((a, p) => [a[0] + p[0] / ring.length, a[1] + p[1] / ring.length], [0, 0]);
      const el = Object.assign(document.createElement("div"), { className: "district-label", hidden: state.view !== "districts" });
      districtLabels.set(id, new maplibregl.Marker({ element: el }).setLngLat(c).addTo(state.map));
    }
    const marker = districtLabels.get(id);
    if (marker) {
      marker.getElement().innerHTML = `<strong></strong><span>${v.value === null ? t("noData") : v.value.toFixed(spec.digits)}</span>`;
      marker.getElement().firstChild.textContent = v.name;
    }
  }
}

function legendFor(layer) {
  const lg = layer.legend;
  if (!lg) return "";
  if (lg.ramp) {
    return `<div class="ramp" style="background:linear-gradient(90deg,${lg.ramp.join(",")})"></div>
      <div class="ramp-labels"><span>${lg.min}</span><span>${layer.unit || ""}</span><span>${lg.max}</span></div>`;
  }
  return `<ul class="swatches">${lg.items.map(([key, c]) =>
    `<li><span class="sw" style="background:${c}"></span><span data-i18n="${key}"></span></li>`).join("")}</ul>`;
}

function renderLayers() {
  const present = (id) => state.map && (state.map.getSource(id) || state.map.getLayer(id) || !state.ready);
  const groups = [...BASE_LAYERS.map((l) => ({ ...l, base: true })), ...SENSOR_LAYERS]
    .filter((l) => present(l.id));
  side.innerHTML = `<h2 data-i18n="layers"></h2>
    <ul class="layers">${groups.map((l) => `
      <li class="${l.base ? "base" : "sensor"}">
        <label><input type="checkbox" data-layer="${l.id}" ${hidden.has(l.id) ? "" : "checked"}>
          <span data-i18n="layer.${l.id}"></span></label>
        ${l.base ? "" : `<div class="legend">${legendFor(l)}</div>`}
      </li>`).join("")}</ul>
    <p class="muted small" data-i18n="simulated"></p>`;
  translate(side);
  for (const box of side.querySelectorAll("input[data-layer]")) {
    box.addEventListener("change", () => {
      if (box.checked) hidden.delete(box.dataset.layer); else hidden.add(box.dataset.layer);
      localStorage.setItem("cityhub.hidden", JSON.stringify([...hidden]));
      setVisible(state.map, box.dataset.layer, box.checked);
    });
  }
}

function renderDistricts() {
  const spec = INDICATORS[state.indicator];
  const values = Object.entries(state.districtValues).sort((a, b) => (b[1].value ?? -1) - (a[1].value ?? -1));
  side.innerHTML = `<h2 data-i18n="view.districts"></h2>
    <label class="field"><span data-i18n="indicator"></span>
      <select id="indicator">${Object.keys(INDICATORS).map((k) =>
        `<option value="${k}"${k === state.indicator ? " selected" : ""} data-i18n="indicator.${k}"></option>`).join("")}</select></label>
    <p class="muted small" data-i18n="districtSummary"></p>
    <div class="legend" id="choropleth-legend"><h3 data-i18n="legend"></h3><ul class="swatches">${spec.stops.map((s, i) =>
      `<li><span class="sw" style="background:${colorFor(state.indicator, s)}"></span>≥ ${s}</li>`).join("")}
      <li><span class="sw" style="background:#1a2a3a"></span><span data-i18n="noData"></span></li></ul></div>
    <table class="district-table"><tbody>${values.map(([id, v]) => `
      <tr data-district="${id}"><th scope="row"><span class="sw" style="background:${colorFor(state.indicator, v.value)}"></span>${v.name}</th>
        <td class="num">${v.value === null ? "—" : v.value.toFixed(spec.digits)}</td></tr>`).join("")}</tbody></table>`;
  translate(side);
  $("#indicator").addEventListener("change", (e) => {
    state.indicator = e.target.value;
    recompute();
  });
}

function recompute() {
  if (!state.ready) return;
  state.districtValues = computeIndicator(state.entities, state.indicator);
  labelDistricts();
  if (state.view === "districts") {
    paintChoropleth(state.map, state.districtValues, state.indicator);
    renderDistricts();
  }
}

// Live changes are counted as they arrive and applied to the map at most every FLUSH_MS, so
// a burst of updates costs one redraw, not one per change.
const FLUSH_MS = 250;
let pending = new Map();
let flushTimer = null;
let recomputeTimer = null;
function onLive(changes) {
  if (changes === null) return; // overflow: the next changes bring the values again
  state.events += 1;
  state.received += changes.length;
  for (const e of changes) {
    const seen = pending.get(e.id);
    pending.set(e.id, seen ? Object.assign(seen, e) : e);
  }
  if (!flushTimer) flushTimer = setTimeout(flush, FLUSH_MS);
}

function flush() {
  const t0 = performance.now();
  flushTimer = null;
  const changes = [...pending.values()];
  pending = new Map();
  for (const e of changes) {
    const known = state.entities.get(e.id);
    if (known) Object.assign(known, e); else state.entities.set(e.id, e);
    panel.changed(e);
  }
  applyChanges(state.map, changes);
  state.applied = (state.applied || 0) + changes.length;
  state.flushMaxMs = Math.max(state.flushMaxMs || 0, performance.now() - t0);
  if (!recomputeTimer) {
    recomputeTimer = setTimeout(() => { recomputeTimer = null; recompute(); setStatus(); }, 1000);
  }
}

function select(id) {
  const map = state.map;
  if (state.selected) map.setFeatureState(state.selected, { selected: false });
  state.selected = null;
  const e = state.entities.get(id);
  if (e) {
    const source = sourceOf(map, e.type);
    if (source) { state.selected = { source, id }; map.setFeatureState(state.selected, { selected: true }); }
  }
  return panel.open(id);
}

const panel = new EntityPanel($("#panel"), {
  onClose: () => {
    if (state.selected) state.map.setFeatureState(state.selected, { selected: false });
    state.selected = null;
  },
});

async function start() {
  // the data is read first, in parallel with the map's set-up
  mark("modules");
  const fetched = fetchCity().then((f) => { mark("fetched"); return f; });
  renderTabs();
  translate();
  $("#lang").textContent = currentLang() === "ko" ? "English" : "한국어";
  $("#lang").addEventListener("click", () => setLang(currentLang() === "ko" ? "en" : "ko"));
  onLangChange((code) => {
    $("#lang").textContent = code === "ko" ? "English" : "한국어";
    setStatus();
    show(state.view);
    if (panel.entity) panel.open(panel.entity.id);
  });
  setStatus();
  const map = createMap($("#map"));
  state.map = map;
  show("map");
  map.once("load", () => mark("styled"));
  const layers = await fetched;
  state.entities = await drawCity(map, layers);
  mark("drawn");
  for (const id of hidden) setVisible(map, id, false);
  state.ready = true;
  // loadMs: from the navigation to the first idle map with every layer drawn
  map.once("idle", () => { state.loadMs = mark("idle"); document.body.dataset.ready = "true"; });
  renderLayers();
  recompute();
  setStatus();
  const held = new Set(layers.map(([layer]) => layer.id));
  const liveTypes = SENSOR_LAYERS.map((s) => s.id).filter((type) => held.has(type));
  if (liveTypes.length) {
    api.live(liveTypes, {
      onEntities: onLive,
      onOpen: () => { state.live = true; setStatus(); },
      onError: () => { state.live = false; setStatus(); },
    });
  }
  const clickable = interactiveLayers(map);
  map.on("click", (ev) => {
    const hit = map.queryRenderedFeatures(ev.point, { layers: clickable });
    if (hit.length) select(hit[0].properties.id);
  });
  map.on("mousemove", (ev) => {
    map.getCanvas().style.cursor = map.queryRenderedFeatures(ev.point, { layers: clickable }).length ? "pointer" : "";
  });
  state.select = select;
}

start().catch((err) => {
  $("#status").textContent = String(err.message || err);
  $("#status").dataset.error = "true";
});
