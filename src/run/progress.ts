// Progress view for run and teardown: listr2's live view on a terminal,
// plain lines otherwise (CI logs, pipes), nothing with --json.
import { Listr, type ListrTask } from 'listr2';

export type ProgressMode = 'auto' | 'plain' | 'silent';

export function progressRenderer(mode: ProgressMode): 'default' | 'simple' | 'silent' {
  if (mode === 'silent') return 'silent';
  if (mode === 'plain') return 'simple';
  return process.stdout.isTTY ? 'default' : 'simple';
}

/** MYIKEV2_TIMING=1 prints how long each step took, on stderr (for benchmarks). */
function timed<C>(tasks: ListrTask<C>[]): ListrTask<C>[] {
  if (!process.env.MYIKEV2_TIMING) return tasks;
  return tasks.map((t) => ({
    ...t,
    task: async (ctx: C, task: Parameters<ListrTask<C>['task']>[1]) => {
      const start = performance.now();
      try {
        const sub = await t.task(ctx, task);
        // eslint-disable-next-line @typescript-eslint/no-explicit-any
        if (sub && typeof (sub as any).run === 'function') await (sub as any).run(ctx);
      } finally {
        process.stderr.write(`timing: ${String(t.title)}: ${since(start)}\n`);
      }
    },
  }));
}

export async function runTasks<C extends object>(ctx: C, tasks: ListrTask<C>[], mode: ProgressMode): Promise<C> {
  const renderer = progressRenderer(mode);
  tasks = timed(tasks);
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const list = new Listr<C, any, any>(tasks, {
    ctx,
    exitOnError: true,
    concurrent: false,
    renderer,
    fallbackRenderer: 'simple',
    // Errors are reported once, by the command, in the tool's own format.
    rendererOptions: { collapseErrors: true, showErrorMessage: false } as never,
    // listr2 would exit the process (127) on SIGINT; the shell's Ctrl-C cancels the command instead.
    registerSignalListeners: false,
  });
  return list.run();
}

/**
 * A task's subtask list, then `after` (which may throw, to fail the task).
 * Return it from the task: listr2 then draws it with the task's own renderer.
 * A list run by hand (`task.newListr(…).run()`) gets a renderer of its own,
 * and on a terminal the two draw over each other (each frame printed again
 * below the last).
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function subtasksThen<C>(list: Listr<C, any, any>, after: () => void): Listr<C, any, any> {
  const run = list.run.bind(list);
  list.run = async (ctx) => {
    const result = await run(ctx);
    after();
    return result;
  };
  return list;
}

/** Times one step when MYIKEV2_TIMING is set (for benchmarks). */
export async function timing<T>(label: string, fn: () => Promise<T>): Promise<T> {
  if (!process.env.MYIKEV2_TIMING) return fn();
  const start = performance.now();
  try {
    return await fn();
  } finally {
    process.stderr.write(`timing:   ${label}: ${since(start)}\n`);
  }
}

/** A step's duration, and when it started (ms since the command started): where steps overlap, and where they wait. */
function since(start: number): string {
  return `${Math.round(performance.now() - start)} ms (from ${Math.round(start)})`;
}
