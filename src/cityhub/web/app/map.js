// The city map: base layers (districts, buildings, roads, facilities) and the live sensor
// layers, all GeoJSON sources read from the NGSI-LD API. No tiles, no glyphs, no network.
import * as maplibregl from "/vendor/maplibre-gl/maplibre-gl.mjs";
import * as api from "./api.js";
import { INDICATORS } from "./districts.js";
import { BASE_LAYERS, SENSOR_LAYERS, sensorPaint } from "./layers.js";

// Two workers parse the GeoJSON sources (MapLibre takes half the cores, one on a 2-core
// machine), started now, while the data is read.
maplibregl.setWorkerCount(Math.max(2, maplibregl.getWorkerCount()));
maplibregl.prewarm();

// No background layer: the map's container has the background colour (style.css) and the
// canvas stays transparent, which saves a full-screen pass on every frame. On a machine
// without a GPU (SwiftShader) every pixel drawn costs main-thread time, since the frame is read
// back for the software compositor within the frame's task (docs/dashboard.md).
const STYLE = { version: 8, sources: {}, layers: [] };

/** GeoJSON tile buffers, in pixels of a 512 px tile: how far a tile's data reaches past its
 * edge. The default, 128, makes every feature near an edge drawn (circles) or processed (lines,
 * fills) in two to four tiles; a buffer just above the widest circle or half line keeps the
 * edges whole for a fraction of that work. */
const BUFFER = { point: 20, line: 12, area: 4 };

export function createMap(container) {
  const map = new maplibregl.Map({
    container, style: STYLE, center: [24.94, 60.17], zoom: 13, attributionControl: false,
    fadeDuration: 0, maxPitch: 0, dragRotate: false,
  });
  map.on("style.load", () => withoutSky(map));
  return map;
}

/** MapLibre GL JS 6 draws its sky on every frame, as a quad over the whole canvas with a
 * costly fragment shader, even when the style has no sky and the map cannot tilt (maxPitch 0:
 * the horizon is never in view, the quad paints nothing). On a machine without a GPU that
 * invisible quad was the most expensive draw of a frame, about half of it under SwiftShader
 * (docs/dashboard.md, "What a frame costs"). The painter draws it only when the evaluated sky is
 * given, so the style's sky evaluates to nothing while the style has none. MapLibre's
 * internals: if a later version renames them, this does nothing and the map draws as before. */
function withoutSky(map) {
  const sky = map.style && map.style.sky;
  if (!sky || typeof sky.getEvaluated !== "function" || map.getSky()) return;
  sky.getEvaluated = () => undefined;
}

function addBase(map, layer, data) {
  const buffer = layer.kind === "poi" ? BUFFER.point : layer.kind === "road" ? BUFFER.line : BUFFER.area;
  map.addSource(layer.id, { type: "geojson", data, promoteId: "id", buffer });
  const src = layer.id;
  if (layer.kind === "area") {
    // no fill-antialias: its outline pass would draw the edges districts-line draws anyway
    map.addLayer({ id: "districts-fill", type: "fill", source: src, paint: {
      "fill-antialias": false,
      "fill-color": ["coalesce", ["feature-state", "fill"], "#1a2a3a"],
      "fill-opacity": ["case", ["boolean", ["feature-state", "selected"], false], 0.75, 0.45] } });
    map.addLayer({ id: "districts-line", type: "line", source: src, paint: {
      "line-color": "#5f7d99", "line-width": 1.5, "line-dasharray": [3, 2] } });
  } else if (layer.kind === "building") {
    map.addLayer({ id: "buildings", type: "fill", source: src, paint: {
      "fill-color": "#243443", "fill-opacity": 0.8, "fill-outline-color": "#2e4254" } });
  } else if (layer.kind === "road") {
    map.addLayer({ id: "roads", type: "line", source: src,
      // round caps and joins only when the roads are wide enough to show them: each one is
      // a fan of triangles, and below zoom 15 a road is one to four pixels wide
      layout: { "line-cap": ["step", ["zoom"], "butt", 15, "round"],
        "line-join": ["step", ["zoom"], "miter", 15, "round"] },
      paint: {
        "line-color": ["match", ["get", "roadClass"], ["MAIN_ROAD", "PRIMARY_ROAD"], "#b7c7d6",
          "MINOR_CITY_ROAD", "#7c8fa1", "#5c6e80"],
        "line-width": ["interpolate", ["linear"], ["zoom"], 12,
          ["*", 0.4, ["coalesce", ["get", "totalLaneNumber"], 2]], 17,
          ["*", 2.2, ["coalesce", ["get", "totalLaneNumber"], 2]]],
      } });
  } else if (layer.kind === "poi") {
    map.addLayer({ id: "facilities", type: "circle", source: src, paint: {
      "circle-radius": 3, "circle-color": "#8aa0b4", "circle-opacity": 0.7,
      "circle-stroke-color": "#0b1219", "circle-stroke-width": 1 } });
  }
}

/** The one source of every sensor layer. One source, not one per type: the workers tile it
 * once (nine tiles at the city's zoom, not nine per sensor type), so the map is drawn after
 * far fewer tile loads and frames; each type keeps its own layer (a filter on `type`). */
export const SENSOR_SOURCE = "sensors";

function addSensors(map, layers, data) {
  map.addSource(SENSOR_SOURCE, { type: "geojson", data, promoteId: "id", buffer: BUFFER.point });
  for (const layer of layers) {
    map.addLayer({ id: layer.id, type: "circle", source: SENSOR_SOURCE,
      filter: ["==", ["get", "type"], layer.id], paint: sensorPaint(layer) });
  }
}

/** The map source that draws entities of `type`, or undefined. */
export function sourceOf(map, type) {
  if (SENSOR_LAYERS.some((s) => s.id === type) && map.getLayer(type)) return SENSOR_SOURCE;
  const base = BASE_LAYERS.find((l) => l.types.includes(type));
  return base && map.getSource(base.id) ? base.id : undefined;
}

/** Points for every feature: a line or polygon sensor (rare) is drawn at its first vertex. */
function asPoints(features) {
  for (const f of features) {
    const g = f.geometry;
    if (g && g.type !== "Point") {
      let c = g.coordinates;
      while (Array.isArray(c[0])) c = c[0];
      f.geometry = { type: "Point", coordinates: c };
    }
  }
  return features;
}

/** The attributes a layer's features carry: what the map draws and the district view
 * computes with (the geometry comes with every feature; it is the entity's `location`). */
function pickFor(layer, type) {
  const attrs = new Set(["id", "type", ...(layer.draws || [])]);
  if (layer.attr) attrs.add(layer.attr);
  if (layer.sensor) attrs.add("status");
  for (const spec of Object.values(INDICATORS)) if (spec.type === type) attrs.add(spec.attr);
  return [...attrs];
}

/** Starts reading every layer's data at once, before the map exists: one request per 1,000
 * entities of a type, all in parallel; resolves to [layer, features][] of the layers the hub
 * holds entities for. */
export function fetchCity() {
  const wanted = [...BASE_LAYERS, ...SENSOR_LAYERS.map((s) => ({ ...s, types: [s.id], sensor: true }))];
  return Promise.all(wanted.map(async (layer) => [layer, (await Promise.all(layer.types.map((type) =>
    api.allFeatures(type, pickFor(layer, type))))).flat()]))
    .then((all) => all.filter(([, features]) => features.length));
}

/** Draws the layers read by fetchCity once the map has loaded; returns the entities by id
 * (keyValues, with the attributes read). */
export async function drawCity(map, fetched) {
  const entities = new Map();
  await new Promise((resolve) => (map.loaded() ? resolve() : map.once("load", resolve)));
  let bounds = null;
  const sensorLayers = [];
  const sensorFeatures = [];
  for (const [layer, all] of fetched) {
    const features = all.filter((f) => f.geometry);
    for (const f of features) {
      f.properties.id = f.id;
      f.properties.type = f.properties.type || (layer.sensor ? layer.id : layer.types[0]);
      f.properties.location = f.geometry;
      entities.set(f.id, f.properties);
    }
    if (layer.sensor) {
      sensorLayers.push(SENSOR_LAYERS.find((s) => s.id === layer.id));
      sensorFeatures.push(...asPoints(features));
    } else {
      addBase(map, layer, { type: "FeatureCollection", features });
    }
    if (layer.kind === "area" || (layer.kind === "road" && !bounds)) {
      bounds = extend(bounds, features);
    }
  }
  if (sensorLayers.length) addSensors(map, sensorLayers, { type: "FeatureCollection", features: sensorFeatures });
  if (bounds) map.fitBounds(bounds, { padding: 24, animate: false });
  return entities;
}

function extend(bounds, features) {
  let b = bounds;
  const visit = (c) => {
    if (typeof c[0] === "number") {
      b = b ? [[Math.min(b[0][0], c[0]), Math.min(b[0][1], c[1])], [Math.max(b[1][0], c[0]), Math.max(b[1][1], c[1])]]
        : [[c[0], c[1]], [c[0], c[1]]];
    } else c.forEach(visit);
  };
  for (const f of features) visit(f.geometry.coordinates);
  return b;
}

export function layerIds(map, groupId) {
  if (groupId === "districts") return ["districts-fill", "districts-line"].filter((id) => map.getLayer(id));
  return map.getLayer(groupId) ? [groupId] : [];
}

export function setVisible(map, groupId, visible) {
  for (const id of layerIds(map, groupId)) map.setLayoutProperty(id, "visibility", visible ? "visible" : "none");
}

/** Applies live entity changes to the sensor layers' feature state. */
export function applyChanges(map, changes) {
  for (const e of changes) {
    const layer = SENSOR_LAYERS.find((s) => s.id === e.type);
    if (!layer || !map.getLayer(layer.id)) continue;
    const state = {};
    if (layer.attr && typeof e[layer.attr] === "number") state.v = e[layer.attr];
    if (typeof e.status === "string") state.s = e.status;
    map.setFeatureState({ source: SENSOR_SOURCE, id: e.id }, state);
  }
}

export function interactiveLayers(map) {
  return [...SENSOR_LAYERS.map((s) => s.id), "facilities", "roads", "districts-fill"]
    .filter((id) => map.getLayer(id));
}

export { maplibregl };
