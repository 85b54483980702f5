// The progress view: a task's subtasks followed by a check are drawn by the
// one renderer of the whole list (two renderers on a terminal draw over each
// other), and a failed check fails the task.
import { strict as assert } from 'node:assert';
import { Listr } from 'listr2';
import { subtasksThen } from '../../src/run/progress.js';

/** A renderer that only counts how many were made. */
let renderers = 0;
class Counting {
  static nonTTY = true;
  static rendererOptions: never;
  static rendererTaskOptions: never;
  constructor() {
    renderers++;
  }
  render(): void {}
  end(): void {}
}

describe('run: progress view', () => {
  beforeEach(() => (renderers = 0));

  const list = (order: string[], after: () => void) =>
    new Listr(
      [
        {
          title: 'parent',
          task: (_c, task) =>
            subtasksThen(
              task.newListr(
                ['a', 'b'].map((n) => ({ title: n, task: async () => void order.push(n) })),
                { concurrent: true, exitOnError: false },
              ),
              after,
            ),
        },
      ],
      { renderer: Counting as never, registerSignalListeners: false },
    );

  it('subtasks then a check: one renderer for the whole list, the check after every subtask', async () => {
    const order: string[] = [];
    await list(order, () => order.push('after')).run();
    assert.deepEqual([...order].sort(), ['a', 'after', 'b']);
    assert.equal(order[2], 'after');
    assert.equal(renderers, 1, 'the subtasks are drawn by the list\'s renderer, not one of their own');
  });

  it('a check that throws fails the parent task with its message', async () => {
    const l = list([], () => {
      throw new Error('1 of 2 server(s) not torn down: srv2');
    });
    await assert.rejects(l.run(), /1 of 2 server\(s\) not torn down: srv2/);
    assert.equal(l.tasks[0].hasFailed(), true);
  });
});
