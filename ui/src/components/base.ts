import { LitElement } from 'lit';

/**
 * The page's components render into the light DOM: one stylesheet (ui/src/styles.css, with
 * uPlot's) styles them all, and the browser tests select elements as a user sees them.
 */
export class View extends LitElement {
  protected override createRenderRoot(): HTMLElement {
    return this;
  }
}
