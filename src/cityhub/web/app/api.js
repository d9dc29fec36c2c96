// The hub's public HTTP API, as the dashboard uses it: nothing here that an app could not do.
const NGSI = "/ngsi-ld/v1";
const PAGE = 1000;

async function check(response) {
  if (!response.ok) {
    let detail = response.statusText;
    try { detail = (await response.json()).detail || detail; } catch { /* not JSON */ }
    throw new Error(`${response.status}: ${detail}`);
  }
  return response;
}

export async function types() {
  const body = await (await check(await fetch(`${NGSI}/types`))).json();
  return body.typeList || [];
}

export async function countOf(type) {
  const r = await check(await fetch(`${NGSI}/entities?type=${encodeURIComponent(type)}&count=true&limit=0`));
  return Number(r.headers.get("NGSILD-Results-Count") || 0);
}

/** Every entity of `type`, page by page: `accept` is application/json or application/geo+json. */
export async function allEntities(type, { accept = "application/json", keyValues = true } = {}) {
  const out = [];
  for (let offset = 0; ; offset += PAGE) {
    const options = keyValues ? "&options=keyValues" : "";
    const url = `${NGSI}/entities?type=${encodeURIComponent(type)}${options}&limit=${PAGE}&offset=${offset}`;
    const body = await (await check(await fetch(url, { headers: { Accept: accept } }))).json();
    const page = accept === "application/geo+json" ? body.features : body;
    out.push(...page);
    if (page.length < PAGE) return out;
  }
}

/** The features of every entity of `type` as GeoJSON (keyValues), with only the `pick`ed
 * attributes: the first page tells the count, the other pages are then read in parallel. */
export async function allFeatures(type, pick) {
  const base = `${NGSI}/entities?type=${encodeURIComponent(type)}&options=keyValues&limit=${PAGE}` +
    (pick ? `&pick=${encodeURIComponent(pick.join(","))}` : "");
  const read = async (url) => (await check(await fetch(url, { headers: { Accept: "application/geo+json" } })));
  const first = await read(`${base}&count=true`);
  const total = Number(first.headers.get("NGSILD-Results-Count") || 0);
  const pages = [(await first.json()).features];
  const rest = [];
  for (let offset = PAGE; offset < total; offset += PAGE) {
    rest.push(read(`${base}&offset=${offset}`).then(async (r) => (await r.json()).features));
  }
  return pages.concat(await Promise.all(rest)).flat();
}

export async function sample(type) {
  const url = `${NGSI}/entities?type=${encodeURIComponent(type)}&options=keyValues&limit=1`;
  const body = await (await check(await fetch(url))).json();
  return body[0] || null;
}

export async function entity(id) {
  return (await check(await fetch(`${NGSI}/entities/${encodeURIComponent(id)}`))).json();
}

/** [[value, time], ...] of one attribute between two Dates, oldest first. */
export async function history(id, attr, from, to) {
  const params = new URLSearchParams({
    attrs: attr, options: "temporalValues", timerel: "between",
    timeAt: from.toISOString(), endTimeAt: to.toISOString(),
  });
  const r = await fetch(`${NGSI}/temporal/entities/${encodeURIComponent(id)}?${params}`);
  const body = await (await check(r)).json();
  const member = body[attr];
  const values = member ? (Array.isArray(member) ? member.flatMap((m) => m.values || []) : member.values || []) : [];
  return values.filter((pair) => typeof pair[0] === "number").sort((a, b) => (a[1] < b[1] ? -1 : 1));
}

/** Live changes of entities of `types` (server-sent events, GET /cityhub/v1/live). */
export function live(typeList, { onEntities, onOpen, onError }) {
  const source = new EventSource(`/cityhub/v1/live?type=${encodeURIComponent(typeList.join(","))}`);
  source.addEventListener("stream", (e) => onOpen && onOpen(JSON.parse(e.data)));
  source.addEventListener("entities", (e) => onEntities(JSON.parse(e.data)));
  source.addEventListener("overflow", () => onEntities(null));
  source.onerror = () => onError && onError();
  return source;
}
