// The district view: a choropleth of one indicator per district, computed from the sensors
// inside each district polygon, recomputed as live changes arrive.
import { GOOD_BAD } from "./layers.js";

export const INDICATORS = {
  pm25: { type: "AirQualityObserved", attr: "pm25", stops: [0, 10, 25, 50, 75], digits: 1 },
  congestion: { type: "TrafficFlowObserved", attr: "occupancy", stops: [0, 0.1, 0.25, 0.4, 0.6], digits: 2 },
  parking: { type: "OffStreetParking", attr: "occupancy", stops: [0, 0.5, 0.75, 0.9, 1], digits: 2 },
};

function inRing(pt, ring) {
  let inside = false;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
    const [xi, yi] = ring[i];
    const [xj, yj] = ring[j];
    if ((yi > pt[1]) !== (yj > pt[1]) && pt[0] < ((xj - xi) * (pt[1] - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

function contains(geometry, pt) {
  const polys = geometry.type === "Polygon" ? [geometry.coordinates]
    : geometry.type === "MultiPolygon" ? geometry.coordinates : [];
  return polys.some((rings) => inRing(pt, rings[0]) && !rings.slice(1).some((h) => inRing(pt, h)));
}

function pointOf(e) {
  const g = e.location;
  if (!g) return null;
  let c = g.coordinates;
  while (Array.isArray(c[0])) c = c[0];
  return c;
}

export function colorFor(indicator, value) {
  if (value === null) return "#1a2a3a";
  const stops = INDICATORS[indicator].stops;
  let i = 0;
  while (i < stops.length - 1 && value >= stops[i + 1]) i++;
  return GOOD_BAD[i];
}

/** {districtId: {value, n, name}} of `indicator`, from entities by id (keyValues). */
export function computeIndicator(entities, indicator) {
  const spec = INDICATORS[indicator];
  const districts = [...entities.values()].filter((e) => e.type === "District" && e.location);
  const sensors = [...entities.values()].filter((e) => e.type === spec.type && typeof e[spec.attr] === "number");
  const out = {};
  for (const d of districts) {
    const values = sensors.filter((s) => { const p = pointOf(s); return p && contains(d.location, p); })
      .map((s) => s[spec.attr]);
    out[d.id] = { name: d.name || d.id, n: values.length,
      value: values.length ? values.reduce((a, b) => a + b, 0) / values.length : null };
  }
  return out;
}

export function paintChoropleth(map, values, indicator) {
  for (const [id, v] of Object.entries(values)) {
    map.setFeatureState({ source: "districts", id }, { fill: indicator ? colorFor(indicator, v.value) : null });
  }
}
