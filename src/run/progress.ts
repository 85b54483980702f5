// Progress view for run and teardown: listr2's live view on a terminal,
// plain lines otherwise (CI logs, pipes), nothing with --json.
import { Listr, type ListrTask } from 'listr2';

export type ProgressMode = 'auto' | 'plain' | 'silent';

export function progressRenderer(mode: ProgressMode): 'default' | 'simple' | 'silent' {
  if (mode === 'silent') return 'silent';
  if (mode === 'plain') return 'simple';
  return process.stdout.isTTY ? 'default' : 'simple';
}

export async function runTasks<C extends object>(ctx: C, tasks: ListrTask<C>[], mode: ProgressMode): Promise<C> {
  const renderer = progressRenderer(mode);
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const list = new Listr<C, any, any>(tasks, {
    ctx,
    exitOnError: true,
    concurrent: false,
    renderer,
    fallbackRenderer: 'simple',
    // Errors are reported once, by the command, in the tool's own format.
    rendererOptions: { collapseErrors: true, showErrorMessage: false } as never,
  });
  return list.run();
}
