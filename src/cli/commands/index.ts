import type { Registrar } from '../program.js';
import { registerValidate } from './validate.js';
import { registerExample } from './example.js';

/** Every subcommand of `myikev2`, in the order `--help` lists them. */
export const registrars: Registrar[] = [registerValidate, registerExample];
