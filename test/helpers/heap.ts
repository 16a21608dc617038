// Heap measurements for memory-bound tests: a real gc() even when node was not started with
// --expose-gc (the flag can be turned on at runtime and the function fetched from a fresh context),
// so "held after the input" means live objects, not garbage that happens not to be collected yet.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

let gc: (() => void) | undefined = (globalThis as { gc?: () => void }).gc;

function collect(): void {
  if (!gc) {
    setFlagsFromString('--expose-gc');
    gc = runInNewContext('gc') as () => void;
  }
  // Twice: the first pass may only queue finalisation of what the second frees.
  gc();
  gc();
}

/** V8 heap in use after a full collection. */
export function liveHeapBytes(): number {
  collect();
  return process.memoryUsage().heapUsed;
}
