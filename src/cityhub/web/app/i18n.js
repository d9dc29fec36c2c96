// UI strings in English and Korean. A view adds its own with `addStrings`.
const STRINGS = {
  en: {
    title: "CityHub city operations",
    views: "Views",
    switchLanguage: "Switch language",
    mapLabel: "City map",
    "view.map": "Live map",
    "view.districts": "Districts",
    "view.catalogue": "Data catalogue",
    layers: "Layers",
    legend: "Legend",
    loading: "Loading the city…",
    loaded: "{n} entities",
    live: "live",
    offline: "reconnecting…",
    updates: "{n} updates",
    "layer.districts": "Districts",
    "layer.buildings": "Buildings",
    "layer.roads": "Roads",
    "layer.facilities": "Facilities",
    "layer.AirQualityObserved": "Air quality (PM2.5)",
    "layer.TrafficFlowObserved": "Traffic speed",
    "layer.OffStreetParking": "Parking occupancy",
    "layer.ParkingSpot": "Parking spots",
    "layer.Streetlight": "Street lights",
    "layer.WeatherObserved": "Weather",
    "layer.EVChargingStation": "EV chargers",
    "layer.WasteContainer": "Waste bins",
    "layer.Camera": "Cameras",
    "layer.EmergencyUnit": "Emergency units",
    "layer.ACMeasurement": "Substation meters",
    "legend.low": "low",
    "legend.high": "high",
    "legend.on": "on",
    "legend.off": "off",
    "legend.free": "free",
    "legend.occupied": "occupied",
    "legend.fault": "fault",
    close: "Close",
    attributes: "Attributes",
    history: "History",
    attribute: "Attribute",
    range: "Time range",
    from: "From",
    to: "To",
    apply: "Apply",
    noHistory: "No history in this time range.",
    noNumeric: "This entity has no numeric attribute to chart.",
    points: "{n} readings",
    "range.1h": "1 h",
    "range.6h": "6 h",
    "range.24h": "24 h",
    "range.7d": "7 days",
    indicator: "Indicator",
    "indicator.pm25": "Mean PM2.5 (µg/m³)",
    "indicator.congestion": "Congestion (mean occupancy of road counters)",
    "indicator.parking": "Parking pressure (mean occupancy)",
    noData: "no data",
    districtSummary: "Per district, from the sensors inside it, updated live.",
    type: "Type",
    count: "Entities",
    sample: "Sample",
    export: "Export",
    catalogueIntro: "Every entity type in the hub, with a sample. Exports read the public NGSI-LD API.",
    exporting: "Exporting…",
    findEntity: "Find an entity",
    simulated: "Simulated city data — labelled synthetic",
    futureViews: "Safety, digital twin and forecasts add their views here.",
  },
  ko: {
    title: "CityHub 도시 통합운영",
    views: "화면",
    switchLanguage: "언어 바꾸기",
    mapLabel: "도시 지도",
    "view.map": "실시간 지도",
    "view.districts": "행정구역",
    "view.catalogue": "데이터 카탈로그",
    layers: "레이어",
    legend: "범례",
    loading: "도시를 불러오는 중…",
    loaded: "엔티티 {n}개",
    live: "실시간",
    offline: "다시 연결하는 중…",
    updates: "갱신 {n}건",
    "layer.districts": "행정구역",
    "layer.buildings": "건물",
    "layer.roads": "도로",
    "layer.facilities": "시설",
    "layer.AirQualityObserved": "대기질 (PM2.5)",
    "layer.TrafficFlowObserved": "교통 속도",
    "layer.OffStreetParking": "주차장 점유율",
    "layer.ParkingSpot": "주차면",
    "layer.Streetlight": "가로등",
    "layer.WeatherObserved": "기상",
    "layer.EVChargingStation": "전기차 충전소",
    "layer.WasteContainer": "쓰레기통",
    "layer.Camera": "CCTV",
    "layer.EmergencyUnit": "긴급 출동대",
    "layer.ACMeasurement": "변전소 계량기",
    "legend.low": "낮음",
    "legend.high": "높음",
    "legend.on": "켜짐",
    "legend.off": "꺼짐",
    "legend.free": "빈자리",
    "legend.occupied": "사용 중",
    "legend.fault": "고장",
    close: "닫기",
    attributes: "속성",
    history: "이력",
    attribute: "속성",
    range: "기간",
    from: "시작",
    to: "끝",
    apply: "적용",
    noHistory: "이 기간에는 이력이 없습니다.",
    noNumeric: "차트로 그릴 숫자 속성이 없습니다.",
    points: "측정값 {n}개",
    "range.1h": "1시간",
    "range.6h": "6시간",
    "range.24h": "24시간",
    "range.7d": "7일",
    indicator: "지표",
    "indicator.pm25": "평균 PM2.5 (µg/m³)",
    "indicator.congestion": "혼잡도 (도로 검지기 평균 점유율)",
    "indicator.parking": "주차 압력 (평균 점유율)",
    noData: "자료 없음",
    districtSummary: "구역 안의 센서로 계산하며 실시간으로 갱신합니다.",
    type: "유형",
    count: "엔티티 수",
    sample: "예시",
    export: "내보내기",
    catalogueIntro: "허브의 모든 엔티티 유형과 예시입니다. 내보내기는 공개 NGSI-LD API를 씁니다.",
    exporting: "내보내는 중…",
    findEntity: "엔티티 찾기",
    simulated: "가상 도시 데이터 — 합성 데이터로 표시됨",
    futureViews: "안전, 디지털 트윈, 예측 화면이 여기에 추가됩니다.",
  },
};

let lang = localStorage.getItem("cityhub.lang") === "ko" ? "ko" : "en";
const listeners = [];

export function currentLang() { return lang; }

export function t(key, vars = {}) {
  const text = STRINGS[lang][key] ?? STRINGS.en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => String(vars[name] ?? ""));
}

export function addStrings(more) {
  for (const code of Object.keys(STRINGS)) Object.assign(STRINGS[code], more[code] || {});
}

/** Re-labels every element carrying data-i18n / data-i18n-aria / data-i18n-title. */
export function translate(root = document) {
  document.documentElement.lang = lang;
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-aria]")) {
    el.setAttribute("aria-label", t(el.dataset.i18nAria));
  }
  for (const el of root.querySelectorAll("[data-i18n-title]")) el.title = t(el.dataset.i18nTitle);
}

export function setLang(code) {
  lang = code === "ko" ? "ko" : "en";
  localStorage.setItem("cityhub.lang", lang);
  translate();
  for (const fn of listeners) fn(lang);
}

export function onLangChange(fn) { listeners.push(fn); }
