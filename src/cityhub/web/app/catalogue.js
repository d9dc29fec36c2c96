// The data catalogue: every entity type with its count and a sample, and exports as CSV,
// GeoJSON and NGSI-LD, all read from the public NGSI-LD API.
import * as api from "./api.js";
import { t, translate } from "./i18n.js";

function esc(text) {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function download(name, mime, text) {
  const url = URL.createObjectURL(new Blob([text], { type: mime }));
  const a = Object.assign(document.createElement("a"), { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10e3);
}

function csvCell(v) {
  if (v === undefined || v === null) return "";
  const s = typeof v === "object" ? JSON.stringify(v) : String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function toCsv(entities) {
  const columns = ["id", "type"];
  for (const e of entities) for (const k of Object.keys(e)) if (!columns.includes(k)) columns.push(k);
  const lines = [columns.join(",")];
  for (const e of entities) lines.push(columns.map((c) => csvCell(e[c])).join(","));
  return lines.join("\r\n") + "\r\n";
}

export async function exportType(type, format) {
  const base = type.toLowerCase();
  if (format === "geojson") {
    const features = await api.allEntities(type, { accept: "application/geo+json" });
    download(`${base}.geojson`, "application/geo+json",
      JSON.stringify({ type: "FeatureCollection", features }));
  } else if (format === "csv") {
    download(`${base}.csv`, "text/csv", toCsv(await api.allEntities(type)));
  } else {
    download(`${base}.ngsild.json`, "application/json",
      JSON.stringify(await api.allEntities(type, { keyValues: false }), null, 1));
  }
}

export async function renderCatalogue(page) {
  const types = await api.types();
  const counts = await Promise.all(types.map((type) => api.countOf(type)));
  page.innerHTML = `
    <div class="catalogue">
      <h1 data-i18n="view.catalogue"></h1>
      <p class="muted" data-i18n="catalogueIntro"></p>
      <table class="types">
        <thead><tr><th scope="col" data-i18n="type"></th><th scope="col" class="num" data-i18n="count"></th>
          <th scope="col" data-i18n="sample"></th><th scope="col" data-i18n="export"></th></tr></thead>
        <tbody>${types.map((type, i) => `
          <tr data-type="${esc(type)}">
            <th scope="row">${esc(type)}</th><td class="num">${counts[i].toLocaleString()}</td>
            <td><details class="sample"><summary>${esc(t("sample"))}</summary><pre></pre></details></td>
            <td class="exports">
              <button type="button" data-format="csv">CSV</button>
              <button type="button" data-format="geojson">GeoJSON</button>
              <button type="button" data-format="ngsild">NGSI-LD</button>
            </td>
          </tr>`).join("")}
        </tbody>
      </table>
    </div>`;
  translate(page);
  for (const row of page.querySelectorAll("tr[data-type]")) {
    const type = row.dataset.type;
    const details = row.querySelector("details");
    details.addEventListener("toggle", async () => {
      const pre = details.querySelector("pre");
      if (details.open && !pre.textContent) pre.textContent = JSON.stringify(await api.sample(type), null, 2);
    });
    for (const b of row.querySelectorAll("button[data-format]")) {
      b.addEventListener("click", async () => {
        b.disabled = true;
        try { await exportType(type, b.dataset.format); } finally { b.disabled = false; }
      });
    }
  }
}
