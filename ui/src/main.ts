/**
 * The web page of cpreg-ledger (served at /ui/, built by `npm run build:ui` into dist/ui/): lit
 * components over the typed client, uPlot for plots, all from node_modules. docs/ui.md.
 */
import 'uplot/dist/uPlot.min.css';
import './styles.css';
import './components/app';
