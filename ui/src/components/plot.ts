import { html, type PropertyValues } from 'lit';
import uPlot from 'uplot';
import { View } from './base';

/** One register's value (y) over the vCPU's versions (x), drawn by uPlot as steps. */
export class CpregPlot extends View {
  static override properties = {
    label: { type: String },
    xs: { attribute: false },
    ys: { attribute: false },
  };
  declare label: string;
  declare xs: number[];
  declare ys: Array<number | null>;
  private chart: uPlot | undefined;
  private readonly onResize = () => this.chart?.setSize(this.size());

  constructor() {
    super();
    this.label = '';
    this.xs = [];
    this.ys = [];
  }

  override connectedCallback(): void {
    super.connectedCallback();
    window.addEventListener('resize', this.onResize);
  }

  override disconnectedCallback(): void {
    window.removeEventListener('resize', this.onResize);
    this.chart?.destroy();
    this.chart = undefined;
    super.disconnectedCallback();
  }

  private size() {
    const w = this.querySelector('.plot-area')?.clientWidth ?? 800;
    return { width: Math.max(320, w), height: 280 };
  }

  protected override render() {
    return html`<div class="plot-area" data-points=${this.xs.length}></div>`;
  }

  protected override updated(changed: PropertyValues<this>): void {
    if (!changed.has('xs') && !changed.has('ys') && !changed.has('label')) return;
    this.chart?.destroy();
    const el = this.querySelector<HTMLElement>('.plot-area');
    if (!el) return;
    const hex = (v: number) => '0x' + BigInt(Math.round(v)).toString(16);
    this.chart = new uPlot(
      {
        ...this.size(),
        scales: { x: { time: false } },
        axes: [
          { label: 'version', values: (_u, ticks) => ticks.map((t) => (Number.isInteger(t) ? String(t) : '')) },
          { label: 'value', size: 110, values: (_u, ticks) => ticks.map(hex) },
        ],
        series: [
          { label: 'version' },
          {
            label: this.label,
            stroke: '#1f6feb',
            width: 2,
            fill: 'rgba(31, 111, 235, 0.08)',
            paths: uPlot.paths.stepped!({ align: 1 }),
            points: { show: true, size: 6 },
            value: (_u, v) => (v === null || v === undefined ? '—' : hex(v)),
          },
        ],
        legend: { show: true },
      },
      [this.xs, this.ys],
      el,
    );
  }
}
customElements.define('cpreg-plot', CpregPlot);
