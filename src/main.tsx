// Entry: one engine worker (respawned after a crash), one store, the actions, the page.
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { createEngineClient } from './runtime-client/engine-client';
import { createActions } from './state/actions';
import { startApp } from './state/bootstrap';
import { readBatchOverride, readTestHooksFlag } from './state/links/share-codec';
import { createAppStore } from './state/slices/store';
import { App } from './ui/app/App';
import { AppContext, type AppServices } from './ui/app/app-context';
import './ui/app/app.css';

const engine = createEngineClient();
const store = createAppStore();
// The browser tests' hooks exist only in the dev server and the e2e build (vite.config.ts);
// in the build users get, `?test` and `?batch=N` do nothing.
const testHooks = __ATMAN_TEST_HOOKS__ && readTestHooksFlag();
const batchSize = __ATMAN_TEST_HOOKS__ ? readBatchOverride() : undefined;
const actions = createActions(store, () => engine, { origin: location.origin, ...(batchSize ? { batchSize } : {}) });
engine.onRestart((e) => actions.engineRestarted(e));

const services: AppServices = { store, actions };
if (testHooks) {
  // Browser tests only (?test): crash the worker the way an out-of-memory kill would.
  // counts: GPU buffers and sessions alive in the worker (the soak script); loseDevice: a GPU driver reset.
  (window as unknown as { __atmanTest: unknown }).__atmanTest = {
    crash: (how?: 'close' | 'throw') => void engine.__crashForTest(how).catch(() => {}),
    counts: () => engine.__liveCountsForTest(),
    loseDevice: () => engine.__loseDeviceForTest(),
    store,
    actions,
  };
}

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <AppContext.Provider value={services}>
      <App />
    </AppContext.Provider>
  </StrictMode>,
);
void startApp(store, actions, fetch, { autoExplain: !testHooks });
