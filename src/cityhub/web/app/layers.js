// What the map draws, by entity type (`draws`: the properties a base layer's style reads). A later view (safety, twin, forecasts) adds its own
// entries with `addLayer` before the map loads, or its own sources on `map` afterwards.

// Colour ramps with readable contrast on the dark base map.
const GOOD_BAD = ["#2fbf71", "#c7d93b", "#f5b83d", "#f0713a", "#e0394f"];

function ramp(stops) {
  return (valueExpr) => ["interpolate", ["linear"], valueExpr, ...stops.flatMap(([v, c]) => [v, c])];
}

/** The value a sensor is coloured by: the live one (feature state) or the loaded one. */
function valueOf(attr) {
  return ["coalesce", ["feature-state", "v"], ["get", attr], -1];
}

export const BASE_LAYERS = [
  { id: "districts", types: ["District"], kind: "area", draws: ["name"] },
  { id: "buildings", types: ["Building"], kind: "building" },
  { id: "roads", types: ["RoadSegment"], kind: "road", draws: ["roadClass", "totalLaneNumber"] },
  { id: "facilities", types: ["PointOfInterest"], kind: "poi" },
];

/** Sensor layers: attr is the value that colours the dot; legend is [label key, colour][]. */
export const SENSOR_LAYERS = [
  {
    id: "AirQualityObserved", attr: "pm25", unit: "µg/m³", radius: 9,
    color: ramp([[0, GOOD_BAD[0]], [10, GOOD_BAD[1]], [25, GOOD_BAD[2]], [50, GOOD_BAD[3]], [75, GOOD_BAD[4]]]),
    legend: { ramp: GOOD_BAD, min: "0", max: "75+" },
  },
  {
    id: "TrafficFlowObserved", attr: "averageVehicleSpeed", unit: "km/h", radius: 6,
    color: ramp([[0, GOOD_BAD[4]], [10, GOOD_BAD[3]], [20, GOOD_BAD[2]], [30, GOOD_BAD[1]], [45, GOOD_BAD[0]]]),
    legend: { ramp: [...GOOD_BAD].reverse(), min: "0", max: "45+" },
  },
  {
    id: "OffStreetParking", attr: "occupancy", unit: "", radius: 7,
    color: ramp([[0, GOOD_BAD[0]], [0.5, GOOD_BAD[1]], [0.75, GOOD_BAD[2]], [0.9, GOOD_BAD[3]], [1, GOOD_BAD[4]]]),
    legend: { ramp: GOOD_BAD, min: "0 %", max: "100 %" },
  },
  {
    id: "ParkingSpot", attr: "status", unit: "", radius: 3.5,
    color: (v) => ["match", ["coalesce", ["feature-state", "s"], ["get", "status"], ""],
      "free", "#2fbf71", "occupied", "#e0394f", "#7d8b99"],
    legend: { items: [["legend.free", "#2fbf71"], ["legend.occupied", "#e0394f"]] },
    categorical: true,
  },
  {
    id: "Streetlight", attr: "powerConsumption", unit: "W", radius: 3.5,
    color: (v) => ["case",
      ["!=", ["coalesce", ["feature-state", "s"], ["get", "status"], "ok"], "ok"], "#e0394f",
      [">", v, 1], "#ffd84d", "#46525e"],
    legend: { items: [["legend.on", "#ffd84d"], ["legend.off", "#46525e"], ["legend.fault", "#e0394f"]] },
  },
  { id: "WeatherObserved", attr: "temperature", unit: "°C", radius: 8,
    color: ramp([[-20, "#5aa9ff"], [0, "#9fd3ff"], [15, "#f5e663"], [30, "#f0713a"]]),
    legend: { ramp: ["#5aa9ff", "#9fd3ff", "#f5e663", "#f0713a"], min: "-20", max: "30" } },
  { id: "EVChargingStation", attr: "occupancy", unit: "", radius: 6, fixed: "#4cc2ff" },
  { id: "WasteContainer", attr: "fillingLevel", unit: "", radius: 3.5,
    color: ramp([[0, GOOD_BAD[0]], [0.6, GOOD_BAD[2]], [1, GOOD_BAD[4]]]),
    legend: { ramp: [GOOD_BAD[0], GOOD_BAD[2], GOOD_BAD[4]], min: "0 %", max: "100 %" } },
  { id: "Camera", attr: null, unit: "", radius: 4, fixed: "#b38cff" },
  { id: "EmergencyUnit", attr: null, unit: "", radius: 6, fixed: "#ff5cc8" },
  { id: "ACMeasurement", attr: "totalActivePower", unit: "W", radius: 6, fixed: "#4cc2ff" },
];

export function addLayer(layer) { SENSOR_LAYERS.push(layer); }

export function sensorPaint(layer) {
  const color = layer.fixed ? layer.fixed
    : layer.color(layer.attr ? valueOf(layer.attr) : -1);
  return {
    "circle-radius": ["interpolate", ["linear"], ["zoom"], 12, layer.radius * 0.6, 16, layer.radius * 1.4],
    "circle-color": color,
    "circle-stroke-color": ["case", ["boolean", ["feature-state", "selected"], false], "#ffffff", "#0b1219"],
    "circle-stroke-width": ["case", ["boolean", ["feature-state", "selected"], false], 3, 1],
  };
}

export { GOOD_BAD };
