// The entity panel: an entity's attributes and a chart of one attribute's history (temporal
// API), with a time-range picker. Live changes of the shown entity refresh it.
import * as api from "./api.js";
import { drawChart } from "./chart.js";
import { t, translate } from "./i18n.js";

const RANGES = { "1h": 3600e3, "6h": 6 * 3600e3, "24h": 24 * 3600e3, "7d": 7 * 24 * 3600e3 };
const SKIP = new Set(["id", "type", "location", "@context"]);

function esc(text) {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function valueText(attr) {
  if (attr === null || typeof attr !== "object") return String(attr);
  if ("value" in attr) {
    const v = attr.value;
    const shown = typeof v === "object" ? JSON.stringify(v) : String(v);
    return attr.unitCode ? `${shown} ${attr.unitCode}` : shown;
  }
  if ("object" in attr) return String(attr.object);
  if ("languageMap" in attr) return Object.values(attr.languageMap).join(" / ");
  return JSON.stringify(attr);
}

function localInput(date) {
  const d = new Date(date.getTime() - date.getTimezoneOffset() * 60e3);
  return d.toISOString().slice(0, 16);
}

export class EntityPanel {
  constructor(element, { onClose } = {}) {
    this.el = element;
    this.onClose = onClose;
    this.entity = null;
    this.attr = null;
    this.range = "1h";
    this.custom = null;
    this.series = [];
    element.addEventListener("keydown", (e) => { if (e.key === "Escape") this.close(); });
  }

  get id() { return this.entity && this.entity.id; }

  async open(id) {
    const entity = await api.entity(id);
    this.entity = entity;
    const numeric = Object.keys(entity).filter((k) => !SKIP.has(k) && typeof entity[k]?.value === "number");
    this.numeric = numeric;
    if (!numeric.includes(this.attr)) this.attr = numeric[0] || null;
    this.render();
    this.el.hidden = false;
    this.el.querySelector(".close").focus();
    await this.loadHistory();
  }

  close() {
    this.el.hidden = true;
    const was = this.entity;
    this.entity = null;
    if (this.onClose) this.onClose(was);
  }

  window() {
    if (this.range === "custom" && this.custom) return this.custom;
    const to = new Date(Date.now() + 60e3);
    return [new Date(to.getTime() - RANGES[this.range] - 60e3), to];
  }

  render() {
    const e = this.entity;
    const name = e.name ? valueText(e.name) : e.id.split(":").slice(-1)[0];
    const rows = Object.keys(e).filter((k) => !SKIP.has(k)).map((k) => {
      const a = e[k];
      const when = a && a.observedAt ? `<time datetime="${esc(a.observedAt)}">${esc(new Date(a.observedAt).toLocaleTimeString())}</time>` : "";
      return `<tr data-attr="${esc(k)}"><th scope="row">${esc(k)}</th><td>${esc(valueText(a))}</td><td>${when}</td></tr>`;
    }).join("");
    const [from, to] = this.window();
    const rangeButtons = Object.keys(RANGES).map((r) =>
      `<button type="button" class="chip" data-range="${r}" aria-pressed="${this.range === r}" data-i18n="range.${r}"></button>`).join("");
    const options = (this.numeric || []).map((k) =>
      `<option value="${esc(k)}"${k === this.attr ? " selected" : ""}>${esc(k)}</option>`).join("");
    this.el.innerHTML = `
      <header class="panel-head">
        <div><div class="entity-type">${esc(e.type)}</div>
          <h2 id="panel-title">${esc(name)}</h2>
          <div class="entity-id">${esc(e.id)}</div></div>
        <button type="button" class="close icon" data-i18n-aria="close" aria-label="Close">✕</button>
      </header>
      <section class="history" aria-labelledby="history-title">
        <h3 id="history-title" data-i18n="history"></h3>
        ${this.attr ? `
        <div class="history-controls">
          <label><span data-i18n="attribute"></span>
            <select class="attr-select">${options}</select></label>
          <div class="chips" role="group" data-i18n-aria="range">${rangeButtons}</div>
          <details class="custom-range"${this.range === "custom" ? " open" : ""}>
            <summary data-i18n="range"></summary>
            <label><span data-i18n="from"></span> <input type="datetime-local" class="from" value="${localInput(from)}"></label>
            <label><span data-i18n="to"></span> <input type="datetime-local" class="to" value="${localInput(to)}"></label>
            <button type="button" class="apply" data-i18n="apply"></button>
          </details>
        </div>
        <figure class="chart" aria-live="polite"></figure>` : `<p class="muted" data-i18n="noNumeric"></p>`}
      </section>
      <section aria-labelledby="attrs-title">
        <h3 id="attrs-title" data-i18n="attributes"></h3>
        <table class="attrs"><tbody>${rows}</tbody></table>
      </section>`;
    translate(this.el);
    this.el.querySelector(".close").addEventListener("click", () => this.close());
    const select = this.el.querySelector(".attr-select");
    if (select) select.addEventListener("change", () => { this.attr = select.value; this.loadHistory(); });
    for (const b of this.el.querySelectorAll("[data-range]")) {
      b.addEventListener("click", () => {
        this.range = b.dataset.range;
        for (const o of this.el.querySelectorAll("[data-range]")) o.setAttribute("aria-pressed", String(o === b));
        this.loadHistory();
      });
    }
    const apply = this.el.querySelector(".apply");
    if (apply) {
      apply.addEventListener("click", () => {
        const from = new Date(this.el.querySelector(".from").value);
        const to = new Date(this.el.querySelector(".to").value);
        if (!(from < to)) return;
        this.range = "custom";
        this.custom = [from, to];
        for (const o of this.el.querySelectorAll("[data-range]")) o.setAttribute("aria-pressed", "false");
        this.loadHistory();
      });
    }
  }

  async loadHistory() {
    if (!this.entity || !this.attr) return;
    const [from, to] = this.window();
    const id = this.entity.id;
    const attr = this.attr;
    const series = await api.history(id, attr, from, to);
    if (!this.entity || this.entity.id !== id || this.attr !== attr) return;
    this.series = series;
    this.drawn();
  }

  drawn() {
    const figure = this.el.querySelector(".chart");
    if (!figure) return;
    const unit = this.entity[this.attr]?.unitCode || "";
    drawChart(figure, this.series, { unit, empty: t("noHistory"), caption: t("points", { n: this.series.length }) });
  }

  /** A live change (keyValues) of some entity: refresh the panel if it is the one shown. */
  changed(e) {
    if (!this.entity || e.id !== this.entity.id) return;
    const now = new Date().toISOString();
    for (const [k, v] of Object.entries(e)) {
      if (SKIP.has(k) || !this.entity[k] || typeof this.entity[k] !== "object") continue;
      this.entity[k] = { ...this.entity[k], value: v, observedAt: this.entity[k].observedAt ? now : undefined };
      const cell = this.el.querySelector(`tr[data-attr="${CSS.escape(k)}"] td`);
      if (cell) cell.textContent = valueText(this.entity[k]);
    }
    if (this.attr && typeof e[this.attr] === "number" && this.range !== "custom") {
      this.series = [...this.series, [e[this.attr], now]];
      this.drawn();
    }
  }
}
