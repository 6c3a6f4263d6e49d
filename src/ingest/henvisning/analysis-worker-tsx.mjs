// Worker entry when the engine runs from its TypeScript sources (tsx: tests, `npm run dev`): a worker thread does not
// inherit tsx's loader, so it registers it before importing the real entry, analysis-worker.ts. The compiled engine
// (dist/) uses analysis-worker.js directly.
import { register } from 'tsx/esm/api';

register();
const entry = await import('./analysis-worker.ts');
export default entry.default;
