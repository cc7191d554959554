// The declarations a TypeScript caller compiles against (dist/*.d.ts) accept the right calls and
// refuse the wrong ones: tsc --noEmit on test/typecheck/usage.ts (every wrong call there carries
// @ts-expect-error, which tsc reports when the call compiles) and on wrong-call.ts, which must fail.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');

function compile(project) {
  return spawnSync(process.execPath, [tsc, '-p', join(here, 'typecheck', project)], { encoding: 'utf8' });
}

test('right calls compile and every wrong call in usage.ts is a type error', () => {
  const r = compile('tsconfig.json');
  assert.equal(r.status, 0, `tsc failed:\n${r.stdout}${r.stderr}`);
});

test('a wrong call fails to compile', () => {
  const r = compile('tsconfig.wrong.json');
  assert.notEqual(r.status, 0, 'tsc accepted a string where the params array goes');
  assert.match(r.stdout, /wrong-call\.ts\(5,\d+\): error TS2345/);
});
