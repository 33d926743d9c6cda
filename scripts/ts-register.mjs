// `node --import ./scripts/ts-register.mjs FILE`: runs FILE with this project's TypeScript
// loadable (scripts/ts-hooks.mjs says how and why), and a stack trace naming the .ts lines.
import { register } from 'node:module';

process.setSourceMapsEnabled(true);
register('./ts-hooks.mjs', import.meta.url);
