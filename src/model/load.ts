// The input side in one call: controller config + recipe + every setup file,
// all validated before anything runs. Commands call this and nothing else.
import type { ControllerConf } from './config-types.js';
import { readControllerConfig } from './config.js';
import type { Recipe } from './recipe-types.js';
import { readRecipe, readRecipeName } from './recipe.js';
import { Diagnostics } from './source.js';

export interface Inputs {
  config: ControllerConf;
  recipe: Recipe;
  warnings: string[];
}

/** Throws InputErrors (exit 2) listing every problem in every file. */
export function loadInputs(recipeFile: string, configFile?: string): Inputs {
  const diag = new Diagnostics();
  const { config } = readControllerConfig(configFile, diag);
  // Without a usable config the recipe's server names cannot be checked; still
  // parse the recipe so its own errors are reported in the same pass.
  const recipe = readRecipe(recipeFile, config, diag);
  diag.throwIfAny();
  return { config: config!, recipe: recipe!, warnings: diag.warnings };
}

export function loadConfig(configFile?: string): { config: ControllerConf; warnings: string[] } {
  const diag = new Diagnostics();
  const { config } = readControllerConfig(configFile, diag);
  diag.throwIfAny();
  return { config: config!, warnings: diag.warnings };
}

/** The config, and only the name of a recipe (for teardown). */
export function loadConfigAndRecipeName(recipeFile: string, configFile?: string): { config: ControllerConf; name: string } {
  const diag = new Diagnostics();
  const { config } = readControllerConfig(configFile, diag);
  const name = readRecipeName(recipeFile, diag);
  diag.throwIfAny();
  return { config: config!, name: name! };
}
