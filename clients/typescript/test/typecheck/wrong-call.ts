// Must NOT compile (test/typecheck.test.mjs expects tsc to fail on it with TS2345): a control
// showing that the typecheck test can fail, independently of the @ts-expect-error markers.
import { CoreDb } from '../../dist/index.js';

await new CoreDb().query('SELECT $1', 'not an array');
